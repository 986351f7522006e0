"""Classify the differences between two OpenAPI documents as breaking or compatible.

Works on plain JSON documents (never imports the services). A change is *breaking* when a client
written against ``old`` can fail against ``new``:

- a path or an operation was removed;
- a response status, or a field (property) of a response body, was removed — or a response
  field is no longer required (no longer guaranteed to be there);
- a request parameter or body property was added as required, or became required; a request
  body was added as required or became required; a request media type was removed;
- a type was narrowed: the type changed (or lost an alternative), enum values were removed,
  ``maxLength``/``maximum``/``maxItems`` were lowered (or added), ``minLength``/``minimum``/
  ``minItems`` were raised (or added), a ``pattern`` or ``format`` was added or changed, a
  request schema stopped accepting additional properties;
- an operation that needed no credentials now requires them (it gained ``security``);
- a response link was removed, or changed its target operation or its values.

Everything else that differs is *compatible*: added paths and operations, added optional
parameters and properties, added response fields, statuses and links, added enum values, widened
constraints, changed descriptions. ``$ref``\\ s into the document (``#/components/...``) are
followed, with protection against cycles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["breaking", "compatible"]
Direction = Literal["request", "response"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Upper bounds: lowering (or adding) one narrows what is accepted.
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
# Lower bounds: raising (or adding) one narrows what is accepted.
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")


@dataclass(frozen=True)
class Change:
    """One difference: its kind, where it is (a JSON pointer into ``new``/``old``), and what."""

    kind: Kind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.path}: {self.message}"


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer(*segments: str | int) -> str:
    """RFC 6901 pointer from raw segments: ``pointer("paths", "/a")`` is ``/paths/~1a``."""
    return "".join(f"/{_escape(str(s))}" for s in segments)


class _Differ:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []

    # --- helpers -----------------------------------------------------------------------------

    def add(self, kind: Kind, path: str, message: str) -> None:
        self.changes.append(Change(kind, path, message))

    def paired(
        self, old: dict[str, Any], new: dict[str, Any], at: str, label: str, what: str
    ) -> Iterator[tuple[str, Any, Any, str]]:
        """The keys of both maps as ``(key, old, new, pointer)``, after reporting a key only in
        ``old`` as removed (breaking) and one only in ``new`` as added (compatible); ``what``
        names an entry in messages, with ``{}`` for its key."""
        for key in sorted(old.keys() | new.keys()):
            there = f"{at}/{_escape(key)}"
            if key not in new:
                self.add("breaking", there, f"{label}: {what.format(key)} was removed")
            elif key not in old:
                self.add("compatible", there, f"{label}: {what.format(key)} was added")
            else:
                yield key, old[key], new[key], there

    @staticmethod
    def _lookup(document: dict[str, Any], ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, not {ref!r}")
        node: Any = document
        for raw in ref[1:].split("/")[1:]:
            key = raw.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, ValueError, TypeError):
                return None  # a dangling reference: compared as the bare {"$ref": ...}
        return node

    def resolve(self, document: dict[str, Any], node: Any) -> tuple[Any, tuple[str, ...]]:
        """Follow ``$ref`` chains; return the target and the refs followed (cycle-safe)."""
        seen: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:  # a ref chain that points back at itself: stop here
                break
            target = self._lookup(document, ref)
            if target is None:
                break
            seen.append(ref)
            node = target
        return node, tuple(seen)

    # --- document level -------------------------------------------------------------------------

    def run(self) -> list[Change]:
        old_paths: dict[str, Any] = self.old.get("paths") or {}
        new_paths: dict[str, Any] = self.new.get("paths") or {}
        for path in old_paths.keys() - new_paths.keys():
            self.add("breaking", pointer("paths", path), f"path {path} was removed")
        for path in new_paths.keys() - old_paths.keys():
            self.add("compatible", pointer("paths", path), f"path {path} was added")
        for path in sorted(old_paths.keys() & new_paths.keys()):
            old_item, _ = self.resolve(self.old, old_paths[path])
            new_item, _ = self.resolve(self.new, new_paths[path])
            for method in METHODS:
                where = pointer("paths", path, method)
                label = f"{method.upper()} {path}"
                if method in old_item and method not in new_item:
                    self.add("breaking", where, f"operation {label} was removed")
                elif method in new_item and method not in old_item:
                    self.add("compatible", where, f"operation {label} was added")
                elif method in old_item:
                    self.operation(
                        old_item[method],
                        new_item[method],
                        where,
                        label,
                        old_item.get("parameters", []),
                        new_item.get("parameters", []),
                    )
        return sorted(self.changes, key=lambda c: (c.kind != "breaking", c.path, c.message))

    @staticmethod
    def _anonymous(document: dict[str, Any], operation: dict[str, Any]) -> bool:
        """Whether the operation can be called without credentials."""
        security = operation["security"] if "security" in operation else document.get("security")
        # No requirement at all, or an empty requirement `{}` among the alternatives.
        return not security or any(not requirement for requirement in security)

    def operation(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        where: str,
        label: str,
        old_shared: list[Any],
        new_shared: list[Any],
    ) -> None:
        for text in ("summary", "description"):
            if old.get(text) != new.get(text):
                self.add("compatible", f"{where}/{text}", f"{label}: {text} changed")
        anonymous_old = self._anonymous(self.old, old)
        anonymous_new = self._anonymous(self.new, new)
        if anonymous_old and not anonymous_new:
            self.add(
                "breaking", f"{where}/security", f"{label} now requires credentials (security)"
            )
        elif anonymous_new and not anonymous_old:
            self.add("compatible", f"{where}/security", f"{label} no longer requires credentials")
        self.parameters(old, new, where, label, old_shared, new_shared)
        self.request_body(old, new, where, label)
        self.responses(old, new, where, label)

    # --- requests --------------------------------------------------------------------------------

    def _parameters(
        self, document: dict[str, Any], operation: dict[str, Any], shared: list[Any]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*shared, *operation.get("parameters", [])]:  # operation-level ones win
            parameter, _ = self.resolve(document, raw)
            found[(parameter["in"], parameter["name"])] = parameter
        return found

    def parameters(
        self,
        old_op: dict[str, Any],
        new_op: dict[str, Any],
        where: str,
        label: str,
        old_shared: list[Any],
        new_shared: list[Any],
    ) -> None:
        old = self._parameters(self.old, old_op, old_shared)
        new = self._parameters(self.new, new_op, new_shared)
        for key in sorted(new.keys() | old.keys()):
            location, name = key
            at = f"{where}/parameters/{_escape(location)}:{_escape(name)}"
            what = f"{label}: {location} parameter {name!r}"
            if key not in new:
                self.add("compatible", at, f"{what} was removed (no longer read)")
                continue
            required = bool(new[key].get("required"))
            if key not in old:
                if required:
                    self.add("breaking", at, f"{what} was added as required")
                else:
                    self.add("compatible", at, f"{what} was added (optional)")
                continue
            if required and not old[key].get("required"):
                self.add("breaking", at, f"{what} became required")
            elif old[key].get("required") and not required:
                self.add("compatible", at, f"{what} became optional")
            if old[key].get("description") != new[key].get("description"):
                self.add("compatible", f"{at}/description", f"{what}: description changed")
            self.schema(
                old[key].get("schema", {}),
                new[key].get("schema", {}),
                f"{at}/schema",
                what,
                "request",
                frozenset(),
            )

    def request_body(
        self, old_op: dict[str, Any], new_op: dict[str, Any], where: str, label: str
    ) -> None:
        at = f"{where}/requestBody"
        old, _ = self.resolve(self.old, old_op.get("requestBody"))
        new, _ = self.resolve(self.new, new_op.get("requestBody"))
        if not old and not new:
            return
        if not new:
            self.add("compatible", at, f"{label}: request body was removed (no longer read)")
            return
        required = bool(new.get("required"))
        if not old:
            kind: Kind = "breaking" if required else "compatible"
            self.add(
                kind,
                at,
                f"{label}: a {'required' if required else 'optional'} request body was added",
            )
            return
        if required and not old.get("required"):
            self.add("breaking", at, f"{label}: the request body became required")
        content = (old.get("content") or {}, new.get("content") or {})
        for _, old_media, new_media, there in self.paired(
            *content, f"{at}/content", label, "request media type {}"
        ):
            self.schema(
                old_media.get("schema", {}),
                new_media.get("schema", {}),
                f"{there}/schema",
                f"{label}: request body",
                "request",
                frozenset(),
            )

    # --- responses -------------------------------------------------------------------------------

    def responses(
        self, old_op: dict[str, Any], new_op: dict[str, Any], where: str, label: str
    ) -> None:
        responses = (old_op.get("responses") or {}, new_op.get("responses") or {})
        for status, old_ref, new_ref, at in self.paired(
            *responses, f"{where}/responses", label, "response {}"
        ):
            old_response, _ = self.resolve(self.old, old_ref)
            new_response, _ = self.resolve(self.new, new_ref)
            if old_response.get("description") != new_response.get("description"):
                self.add(
                    "compatible",
                    f"{at}/description",
                    f"{label}: response {status} description changed",
                )
            self.links(old_response, new_response, at, f"{label}: response {status}")
            content = (old_response.get("content") or {}, new_response.get("content") or {})
            for _, old_media, new_media, there in self.paired(
                *content, f"{at}/content", label, f"response {status} {{}}"
            ):
                self.schema(
                    old_media.get("schema", {}),
                    new_media.get("schema", {}),
                    f"{there}/schema",
                    f"{label}: response {status}",
                    "response",
                    frozenset(),
                )

    def links(self, old: dict[str, Any], new: dict[str, Any], at: str, label: str) -> None:
        """A client that follows a link breaks when it goes, or leads elsewhere."""
        both = (old.get("links") or {}, new.get("links") or {})
        for name, old_link, new_link, there in self.paired(
            *both, f"{at}/links", label, "link {!r}"
        ):
            if old_link != new_link:
                self.add("breaking", there, f"{label}: link {name!r} changed its target or values")

    # --- schemas ---------------------------------------------------------------------------------

    def _branches(self, document: dict[str, Any], schema: dict[str, Any]) -> list[Any] | None:
        """The non-null alternatives of an ``anyOf``/``oneOf``, unresolved; None without one."""
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return [
                    b for b in schema[keyword] if self.resolve(document, b)[0].get("type") != "null"
                ]
        return None

    def _types(self, document: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> set[str]:
        if "type" in schema:
            declared = schema["type"]
            return {declared} if isinstance(declared, str) else set(declared)
        if "const" in schema:
            return {type(schema["const"]).__name__}
        if depth > 8:
            return set()
        found: set[str] = set()
        for keyword in ("anyOf", "oneOf"):
            for branch in schema.get(keyword, []):
                resolved, _ = self.resolve(document, branch)
                found |= self._types(document, resolved, depth + 1)
        return found

    def schema(
        self,
        old_raw: Any,
        new_raw: Any,
        at: str,
        what: str,
        direction: Direction,
        visiting: frozenset[tuple[tuple[str, ...], tuple[str, ...]]],
    ) -> None:
        old, old_refs = self.resolve(self.old, old_raw)
        new, new_refs = self.resolve(self.new, new_raw)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return
        if old_refs or new_refs:
            key = (old_refs, new_refs)
            if key in visiting:  # recursive schema: this pair is already being compared
                return
            visiting = visiting | {key}
        if old.get("description") != new.get("description"):
            self.add("compatible", f"{at}/description", f"{what}: description changed")
        self._type_and_values(old, new, at, what)
        self._bounds(old, new, at, what)
        self._properties(old, new, at, what, direction, visiting)
        if "items" in old and "items" in new:
            self.schema(
                old["items"], new["items"], f"{at}/items", f"{what} items", direction, visiting
            )
        old_branches = self._branches(self.old, old)
        new_branches = self._branches(self.new, new)
        if old_branches is None and new_branches is not None and len(new_branches) == 1:
            return  # X became X | null: X itself was compared above
        if new_branches is None and old_branches is not None and len(old_branches) == 1:
            return
        if (
            old_branches is not None
            and new_branches is not None
            and len(old_branches) == len(new_branches)
        ):
            for index, (o, n) in enumerate(zip(old_branches, new_branches, strict=True)):
                self.schema(o, n, f"{at}/anyOf/{index}", what, direction, visiting)

    def _type_and_values(
        self, old: dict[str, Any], new: dict[str, Any], at: str, what: str
    ) -> None:
        old_types = self._types(self.old, old)
        new_types = self._types(self.new, new)
        if old_types and new_types and old_types != new_types:
            lost = old_types - new_types
            if lost:
                self.add(
                    "breaking",
                    f"{at}/type",
                    f"{what}: type narrowed from {sorted(old_types)} to {sorted(new_types)}",
                )
            else:
                self.add(
                    "compatible",
                    f"{at}/type",
                    f"{what}: type widened from {sorted(old_types)} to {sorted(new_types)}",
                )
        if "const" in old and "const" in new and old["const"] != new["const"]:
            self.add(
                "breaking", f"{at}/const", f"{what}: const {old['const']!r} → {new['const']!r}"
            )
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if new_enum is not None and old_enum is None:
            self.add("breaking", f"{at}/enum", f"{what}: restricted to the values {new_enum}")
        elif old_enum is not None and new_enum is None:
            self.add("compatible", f"{at}/enum", f"{what}: no longer restricted to an enum")
        elif old_enum is not None and new_enum is not None:
            removed = [v for v in old_enum if v not in new_enum]
            added = [v for v in new_enum if v not in old_enum]
            if removed:
                self.add("breaking", f"{at}/enum", f"{what}: enum values removed: {removed}")
            if added:
                self.add("compatible", f"{at}/enum", f"{what}: enum values added: {added}")
        self._format_and_pattern(old, new, at, what)

    def _format_and_pattern(
        self, old: dict[str, Any], new: dict[str, Any], at: str, what: str
    ) -> None:
        for keyword in ("format", "pattern"):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            there = f"{at}/{keyword}"
            if after is None:
                self.add("compatible", there, f"{what}: {keyword} {before!r} was dropped")
            elif before is None:
                self.add("breaking", there, f"{what}: {keyword} {after!r} was added")
            else:
                self.add("breaking", there, f"{what}: {keyword} changed {before!r} → {after!r}")

    def _bounds(self, old: dict[str, Any], new: dict[str, Any], at: str, what: str) -> None:
        for keyword in (*UPPER_BOUNDS, *LOWER_BOUNDS):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            upper = keyword in UPPER_BOUNDS
            there = f"{at}/{keyword}"
            if after is None:
                self.add("compatible", there, f"{what}: {keyword} {before} was dropped")
            elif before is None:
                self.add("breaking", there, f"{what}: {keyword} {after} was added")
            elif (after < before) == upper:
                self.add("breaking", there, f"{what}: {keyword} narrowed {before} → {after}")
            else:
                self.add("compatible", there, f"{what}: {keyword} widened {before} → {after}")

    def _properties(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        at: str,
        what: str,
        direction: Direction,
        visiting: frozenset[tuple[tuple[str, ...], tuple[str, ...]]],
    ) -> None:
        old_props: dict[str, Any] = old.get("properties") or {}
        new_props: dict[str, Any] = new.get("properties") or {}
        old_required = set(old.get("required") or [])
        new_required = set(new.get("required") or [])
        closed = new.get("additionalProperties") is False
        if direction == "request" and closed and old.get("additionalProperties") is not False:
            self.add(
                "breaking",
                f"{at}/additionalProperties",
                f"{what}: additional properties are no longer accepted",
            )
        for name in sorted(old_props.keys() | new_props.keys()):
            there = f"{at}/properties/{_escape(name)}"
            field = f"{what} field {name!r}"
            if name not in new_props:
                if direction == "response":
                    self.add("breaking", there, f"{field} was removed")
                else:
                    kind: Kind = "breaking" if closed else "compatible"
                    self.add(kind, there, f"{field} was removed")
                continue
            if name not in old_props:
                if direction == "request" and name in new_required:
                    self.add("breaking", there, f"{field} was added as required")
                else:
                    self.add("compatible", there, f"{field} was added")
                continue
            if direction == "request" and name in new_required and name not in old_required:
                self.add("breaking", there, f"{field} became required")
            if direction == "response" and name in old_required and name not in new_required:
                self.add("breaking", there, f"{field} is no longer always present")
            self.schema(old_props[name], new_props[name], there, field, direction, visiting)


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference from ``old`` to ``new`` that matters to clients, breaking ones first."""
    return _Differ(old, new).run()


_MAJOR = re.compile(r"^\s*v?(\d+)")


def major_version(document: dict[str, Any]) -> str:
    """The major part of ``info.version`` (``"1.4.2"`` → ``"1"``; otherwise the whole string)."""
    version = str((document.get("info") or {}).get("version", ""))
    match = _MAJOR.match(version)
    return match.group(1) if match else version.strip()


def needs_version_bump(
    old: dict[str, Any], new: dict[str, Any], changes: list[Change] | None = None
) -> bool:
    """True when ``new`` breaks ``old``'s clients but keeps the same major ``info.version``."""
    found = diff(old, new) if changes is None else changes
    breaking = any(change.kind == "breaking" for change in found)
    return breaking and major_version(old) == major_version(new)


def breaking(changes: list[Change]) -> Iterator[Change]:
    """The breaking changes among ``changes``."""
    return (change for change in changes if change.kind == "breaking")
