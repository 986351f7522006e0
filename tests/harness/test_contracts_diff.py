"""The OpenAPI differ: every breaking and compatible rule, the version-bump rule, $refs."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.contracts.openapi import Change, diff, major_version, needs_version_bump

pytestmark = pytest.mark.unit

ITEMS = "/items/{item_id}"


def base() -> dict[str, Any]:
    """A small document: one GET with a parameter, one POST with a body, a shared schema."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1.0.0"},
        "paths": {
            ITEMS: {
                "get": {
                    "description": "Read an item.",
                    "parameters": [
                        {"in": "path", "name": "item_id", "required": True,
                         "schema": {"type": "string"}},
                        {"in": "query", "name": "lang", "required": False,
                         "schema": {"type": "string", "maxLength": 10}},
                    ],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Item"}}}},
                        "404": {"description": "missing"},
                    },
                },
                "post": {
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ItemIn"}}}},
                    "responses": {"201": {"description": "created"}},
                },
            },
        },
        "components": {"schemas": {
            "Item": {"type": "object", "required": ["id", "kind"], "properties": {
                "id": {"type": "string"},
                "kind": {"type": "string", "enum": ["movie", "series"]},
                "rating": {"type": "number", "minimum": 0, "maximum": 10},
            }},
            "ItemIn": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "note": {"type": "string"},
                "kind": {"type": "string", "enum": ["movie", "series"]},
            }},
        }},
    }  # fmt: skip


def changed(edit: Callable[[dict[str, Any]], None]) -> list[Change]:
    new = base()
    edit(new)
    return diff(base(), new)


def kinds(changes: list[Change]) -> set[str]:
    return {c.kind for c in changes}


def get_op(doc: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][ITEMS]["get"]
    return op


def item(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["Item"]
    return schema


def item_in(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["ItemIn"]
    return schema


def test_identical_documents_have_no_changes() -> None:
    assert diff(base(), base()) == []


# --- breaking ------------------------------------------------------------------------------


def test_removed_path_is_breaking() -> None:
    changes = changed(lambda d: d["paths"].pop(ITEMS))
    assert [(c.kind, c.path) for c in changes] == [("breaking", "/paths/~1items~1{item_id}")]


def test_removed_operation_is_breaking() -> None:
    changes = changed(lambda d: d["paths"][ITEMS].pop("post"))
    assert [(c.kind, c.path) for c in changes] == [("breaking", "/paths/~1items~1{item_id}/post")]
    assert "POST /items/{item_id} was removed" in changes[0].message


def test_removed_response_field_is_breaking() -> None:
    changes = changed(lambda d: item(d)["properties"].pop("rating"))
    assert kinds(changes) == {"breaking"}
    assert changes[0].path.endswith(
        "/responses/200/content/application~1json/schema/properties/rating"
    )
    assert "'rating' was removed" in changes[0].message


def test_removed_response_status_is_breaking() -> None:
    changes = changed(lambda d: get_op(d)["responses"].pop("404"))
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", "404")]


def test_response_field_no_longer_required_is_breaking() -> None:
    changes = changed(lambda d: item(d)["required"].remove("kind"))
    assert kinds(changes) == {"breaking"}
    assert "no longer always present" in changes[0].message


def test_parameter_becoming_required_is_breaking() -> None:
    changes = changed(lambda d: get_op(d)["parameters"][1].update(required=True))
    assert [(c.kind, c.message) for c in changes] == [
        ("breaking", "GET /items/{item_id}: query parameter 'lang' became required")
    ]


def test_parameter_added_as_required_is_breaking() -> None:
    changes = changed(lambda d: get_op(d)["parameters"].append(
        {"in": "header", "name": "X-Tenant", "required": True, "schema": {"type": "string"}}
    ))  # fmt: skip
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [
        ("breaking", "header:X-Tenant")
    ]


def test_body_property_becoming_required_is_breaking() -> None:
    changes = changed(lambda d: item_in(d)["required"].append("note"))
    assert [c.kind for c in changes] == ["breaking"]
    assert "'note' became required" in changes[0].message


def test_body_property_added_as_required_is_breaking() -> None:
    def edit(d: dict[str, Any]) -> None:
        item_in(d)["properties"]["year"] = {"type": "integer"}
        item_in(d)["required"].append("year")

    changes = changed(edit)
    assert [c.kind for c in changes] == ["breaking"]
    assert "'year' was added as required" in changes[0].message


def test_required_request_body_added_is_breaking() -> None:
    changes = changed(lambda d: get_op(d).update(requestBody={
        "required": True, "content": {"application/json": {"schema": {"type": "object"}}}
    }))  # fmt: skip
    assert [c.kind for c in changes] == ["breaking"]


def test_type_change_is_breaking() -> None:
    changes = changed(lambda d: item_in(d)["properties"]["note"].update(type="integer"))
    assert [c.kind for c in changes] == ["breaking"]
    assert "type narrowed from ['string'] to ['integer']" in changes[0].message


def test_removed_enum_value_is_breaking() -> None:
    changes = changed(lambda d: item_in(d)["properties"]["kind"].update(enum=["movie"]))
    assert [(c.kind, c.message.rsplit(": ", 1)[-1]) for c in changes] == [
        ("breaking", "['series']")
    ]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("maxLength", 50), ("minLength", 2)],
)
def test_narrowed_length_is_breaking(keyword: str, value: int) -> None:
    changes = changed(lambda d: item_in(d)["properties"]["name"].update({keyword: value}))
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", keyword)]


@pytest.mark.parametrize(("keyword", "value"), [("maximum", 5), ("minimum", 1)])
def test_narrowed_range_is_breaking(keyword: str, value: int) -> None:
    changes = changed(lambda d: item(d)["properties"]["rating"].update({keyword: value}))
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", keyword)]


def test_added_format_is_breaking() -> None:
    changes = changed(lambda d: item_in(d)["properties"]["note"].update(format="email"))
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", "format")]


def test_gaining_security_is_breaking() -> None:
    changes = changed(lambda d: get_op(d).update(security=[{"bearer": []}]))
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", "security")]


def test_document_level_security_counts_for_operations_without_their_own() -> None:
    changes = changed(lambda d: d.update(security=[{"bearer": []}]))
    assert [(c.kind, c.path) for c in changes] == [
        ("breaking", "/paths/~1items~1{item_id}/get/security")
    ]


# --- compatible ----------------------------------------------------------------------------


def test_added_path_and_operation_are_compatible() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["paths"]["/health"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        d["paths"][ITEMS]["delete"] = {"responses": {"204": {"description": "gone"}}}

    changes = changed(edit)
    assert kinds(changes) == {"compatible"}
    assert {c.path for c in changes} == {"/paths/~1health", "/paths/~1items~1{item_id}/delete"}


def test_added_optional_parameter_and_property_are_compatible() -> None:
    def edit(d: dict[str, Any]) -> None:
        get_op(d)["parameters"].append(
            {"in": "query", "name": "page", "schema": {"type": "integer"}}
        )
        item_in(d)["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}

    changes = changed(edit)
    assert kinds(changes) == {"compatible"}
    assert len(changes) == 2


def test_added_response_field_and_status_are_compatible() -> None:
    def edit(d: dict[str, Any]) -> None:
        item(d)["properties"]["year"] = {"type": "integer"}
        get_op(d)["responses"]["429"] = {"description": "slow down"}

    changes = changed(edit)
    assert kinds(changes) == {"compatible"}
    assert len(changes) == 2


def test_added_enum_values_are_compatible() -> None:
    changes = changed(
        lambda d: item_in(d)["properties"]["kind"].update(enum=["movie", "series", "short"])
    )
    assert [(c.kind, c.message.rsplit(": ", 1)[-1]) for c in changes] == [
        ("compatible", "['short']")
    ]


def test_widened_constraints_are_compatible() -> None:
    def edit(d: dict[str, Any]) -> None:
        item_in(d)["properties"]["name"].update(maxLength=200, minLength=0)
        item(d)["properties"]["rating"].pop("maximum")
        get_op(d)["parameters"][1]["schema"]["maxLength"] = 20

    changes = changed(edit)
    assert kinds(changes) == {"compatible"}
    assert len(changes) == 4


def test_nullable_is_a_compatible_widening() -> None:
    changes = changed(lambda d: item_in(d)["properties"].update(
        note={"anyOf": [{"type": "string"}, {"type": "null"}]}
    ))  # fmt: skip
    assert [c.kind for c in changes] == ["compatible"]
    assert "widened" in changes[0].message


def test_description_changes_are_compatible() -> None:
    def edit(d: dict[str, Any]) -> None:
        get_op(d)["description"] = "Read one item."
        item(d)["properties"]["id"]["description"] = "The item id."

    changes = changed(edit)
    assert kinds(changes) == {"compatible"}
    assert all("description changed" in c.message for c in changes)
    assert len(changes) == 2


def test_breaking_changes_are_listed_first() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["paths"]["/a"] = {"get": {"responses": {}}}
        d["paths"][ITEMS].pop("post")

    changes = changed(edit)
    assert [c.kind for c in changes] == ["breaking", "compatible"]


# --- $ref resolution -----------------------------------------------------------------------


def test_refs_are_followed_into_components() -> None:
    changes = changed(lambda d: item(d)["properties"]["kind"]["enum"].remove("series"))
    assert len(changes) == 1
    assert changes[0].path.startswith("/paths/~1items~1{item_id}/get/responses/200")


def test_ref_chains_and_inline_equivalents_compare_equal() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["components"]["schemas"]["Alias"] = {"$ref": "#/components/schemas/Item"}
        get_op(d)["responses"]["200"]["content"]["application/json"]["schema"] = {
            "$ref": "#/components/schemas/Alias"
        }

    assert changed(edit) == []


def test_recursive_schemas_terminate_and_are_compared() -> None:
    def recursive(d: dict[str, Any]) -> None:
        item(d)["properties"]["parent"] = {
            "anyOf": [{"$ref": "#/components/schemas/Item"}, {"type": "null"}]
        }

    old = base()
    recursive(old)
    new = copy.deepcopy(old)
    item(new)["properties"].pop("rating")
    changes = diff(old, new)
    assert changes
    assert kinds(changes) == {"breaking"}
    assert diff(old, copy.deepcopy(old)) == []


def test_self_referencing_ref_does_not_loop() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["components"]["schemas"]["Loop"] = {"$ref": "#/components/schemas/Loop"}
        item(d)["properties"]["loop"] = {"$ref": "#/components/schemas/Loop"}

    old = base()
    edit(old)
    assert diff(old, copy.deepcopy(old)) == []


def test_dangling_ref_is_tolerated() -> None:
    def edit(d: dict[str, Any]) -> None:
        item(d)["properties"]["ghost"] = {"$ref": "#/components/schemas/Missing"}

    old = base()
    edit(old)
    assert diff(old, copy.deepcopy(old)) == []


# --- the version-bump rule -----------------------------------------------------------------


def with_version(doc: dict[str, Any], version: str) -> dict[str, Any]:
    doc["info"]["version"] = version
    return doc


def breaking_new(version: str) -> dict[str, Any]:
    new = with_version(base(), version)
    new["paths"][ITEMS].pop("post")
    return new


def test_breaking_change_without_major_bump_needs_a_bump() -> None:
    assert needs_version_bump(base(), breaking_new("1.3.0"))


def test_breaking_change_with_major_bump_is_fine() -> None:
    assert not needs_version_bump(base(), breaking_new("2.0.0"))


def test_compatible_change_needs_no_bump() -> None:
    new = base()
    new["paths"]["/a"] = {"get": {"responses": {}}}
    assert not needs_version_bump(base(), new)


def test_version_bump_uses_the_given_changes() -> None:
    assert needs_version_bump(base(), base(), [Change("breaking", "/x", "forced")])
    assert not needs_version_bump(base(), breaking_new("1.0.0"), [])


def test_major_version_parsing() -> None:
    assert major_version(with_version(base(), "v12.1")) == "12"
    assert major_version(with_version(base(), "draft")) == "draft"


# --- the mgh contracts diff command -------------------------------------------------------


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_cli_diff_exits_1_on_breaking_change_without_bump(tmp_path: Path) -> None:
    old, new = write(tmp_path, "old.json", base()), write(tmp_path, "new.json", breaking_new("1.1"))
    result = CliRunner().invoke(main, ["contracts", "diff", old, new])
    assert result.exit_code == 1
    assert "breaking" in result.output
    assert "POST /items/{item_id} was removed" in result.output


def test_cli_diff_exits_0_with_major_bump(tmp_path: Path) -> None:
    old, new = write(tmp_path, "old.json", base()), write(tmp_path, "new.json", breaking_new("2.0"))
    result = CliRunner().invoke(main, ["contracts", "diff", old, new])
    assert result.exit_code == 0, result.output
    assert "1 change(s), 1 breaking" in result.output


# --- links ---------------------------------------------------------------------------------------

SIMILAR_LINK = {"operationId": "similar", "parameters": {"path.item_id": "$request.path.item_id"}}


def with_link(doc: dict[str, Any]) -> None:
    get_op(doc)["responses"]["200"]["links"] = {"similar": copy.deepcopy(SIMILAR_LINK)}


def test_added_link_is_compatible() -> None:
    changes = changed(with_link)
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("compatible", "similar")]


def test_removed_link_is_breaking() -> None:
    old = base()
    with_link(old)
    changes = diff(old, base())
    assert [(c.kind, c.path.rsplit("/", 1)[-1]) for c in changes] == [("breaking", "similar")]
    assert "link 'similar' was removed" in changes[0].message


def test_link_to_another_operation_is_breaking() -> None:
    old, new = base(), base()
    with_link(old)
    with_link(new)
    get_op(new)["responses"]["200"]["links"]["similar"]["operationId"] = "elsewhere"
    changes = diff(old, new)
    assert kinds(changes) == {"breaking"}
    assert "changed its target" in changes[0].message


# --- mgh contracts since REV ---------------------------------------------------------------------


def git(repository: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A repository whose first commit holds ``base()`` as contracts/openapi/items.json."""
    snapshots = tmp_path / "contracts" / "openapi"
    snapshots.mkdir(parents=True)
    (snapshots / "items.json").write_text(json.dumps(base()))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    return snapshots


def since(snapshots: Path, revision: str = "HEAD") -> Any:
    return CliRunner().invoke(main, ["contracts", "since", revision, "--dir", str(snapshots)])


def test_since_refuses_a_break_that_keeps_the_major(history: Path) -> None:
    broken = base()
    broken["paths"][ITEMS].pop("post")
    (history / "items.json").write_text(json.dumps(broken))
    result = since(history)
    assert result.exit_code == 1
    assert "items: 1 change(s), 1 breaking, version 1.0.0 → 1.0.0" in result.output
    assert "without a new major info.version: items" in result.output


def test_since_accepts_the_break_with_a_major_bump_and_new_documents(history: Path) -> None:
    broken = with_version(base(), "2.0.0")
    broken["paths"][ITEMS].pop("post")
    (history / "items.json").write_text(json.dumps(broken))
    (history / "more.json").write_text(json.dumps(base()))
    result = since(history)
    assert result.exit_code == 0, result.output
    assert "version 1.0.0 → 2.0.0" in result.output
    assert "more: new document" in result.output


def test_since_names_an_unknown_revision(history: Path) -> None:
    result = since(history, "no-such-revision")
    assert result.exit_code == 1
    assert "unknown revision 'no-such-revision'" in result.output
