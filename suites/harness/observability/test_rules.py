"""Alerting rules with the real promtool: valid, unit-tested, generated files fresh, conventions
kept, a runbook for every alert, and SLO spec mistakes reported by name.

``alerting/rules/slo.yml`` and its promtool tests are generated from ``load/slo.yaml``
(``harness.obs.slo_rules``); ``services.yml`` and its tests are hand-written. The mutation tests
prove the unit tests can fail: a rule changed in a way that matters must break them.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.load import slo as load_slo
from harness.obs import slo_rules, slo_spec
from harness.obs.slo_rules import RULES_DIR, TESTS_DIR, alert_rules, render

pytestmark = pytest.mark.integration

ALERTING = RULES_DIR.parent
RUNBOOKS = ALERTING / "runbooks"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted(TESTS_DIR.glob("*.yml"))
TEMPLATE = re.compile(r"^\{\{ \$labels\.(\w+) \}\}$")


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def spec() -> slo_spec.ObjectiveSpec:
    return slo_spec.load()


def test_promtool_check_rules_passes_without_warnings() -> None:
    assert {p.name for p in RULE_FILES} >= {"slo.yml", "services.yml"}
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), result.stdout


def test_promtool_unit_tests_pass_and_cover_every_rule_file() -> None:
    covered = {
        (TESTS_DIR / rule_file).resolve()
        for test_file in TEST_FILES
        for rule_file in yaml.safe_load(test_file.read_text(encoding="utf-8"))["rule_files"]
    }
    assert covered == {p.resolve() for p in RULE_FILES}
    result = promtool("test", "rules", *TEST_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_generated_files_equal_a_fresh_render_of_the_spec(
    spec: slo_spec.ObjectiveSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = slo_rules.rendered(spec)
    tests = ("slo_test.yml", "slo_6h_test.yml", "slo_1d_test.yml", "slo_3d_test.yml")
    assert set(rendered) == {RULES_DIR / "slo.yml", *(TESTS_DIR / name for name in tests)}
    for path, text in rendered.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run {slo_spec.REGENERATE}"
        )
    assert slo_rules.drift(rendered) == []
    assert slo_rules.main(["--check"]) == 0
    # A spec change the committed files do not reflect is caught by name.
    edited = _spec_with(
        lambda raw: raw["objectives"]["availability"]["sync"].update(objective=99.0)
    )
    bad = tmp_path / "slo.yaml"
    bad.write_text(slo_spec.dump_yaml(edited))
    assert slo_rules.main(["--spec", str(bad), "--check"]) == 1
    err = capsys.readouterr().err
    assert "alerting/rules/slo.yml is stale" in err
    assert "alerting/tests/slo_test.yml is stale" in err


def test_every_alert_has_the_labels_and_annotations_routing_needs(
    spec: slo_spec.ObjectiveSpec,
) -> None:
    rules = alert_rules()
    generated = [r for r in rules if r.file.name == "slo.yml"]
    # 4 burn-rate pairs and an absent-SLI alert per objective, and the hand-written ones.
    assert len(generated) == 5 * len(spec.objectives)
    assert {r.name for r in rules} >= {"ServiceDown", "RateLimitSurge", "SLIMetricAbsent"}
    for rule in rules:
        where = f"{rule.file.name}: {rule.name} ({rule.expr.strip()[:60]})"
        assert rule.labels.get("severity") in slo_spec.SEVERITIES, where
        service = rule.labels.get("service", "")
        if templated := TEMPLATE.match(service):  # from the series: RED labels, or the target's
            assert templated[1] in ("service", "component"), where
        else:
            assert service in slo_spec.SERVICES, where
        for key in ("summary", "description"):
            assert rule.annotations.get(key, "").strip(), f"{where}: no {key}"
        assert rule.annotations.get("runbook_url") == slo_spec.runbook_url(rule.name), where
    page_of_gateway = {
        r.labels["severity"]
        for r in generated
        if r.labels["slo"] == "gateway-availability" and r.labels.get("long") in ("1h", "6h")
    }
    assert page_of_gateway == {"P0"}


def test_every_runbook_url_has_a_page_and_every_page_an_alert() -> None:
    names = {rule.name for rule in alert_rules()}
    pages = {page.stem for page in RUNBOOKS.glob("*.md")}
    assert names - pages == set(), "alerts without a runbook page"
    assert pages - names == set(), "runbook pages of no alert"
    for name in names:
        text = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# {name}\n"), name
        for section in ("## Meaning", "## Impact", "## Diagnose", "## What to do"):
            assert section in text, f"{name}.md: no {section}"
        assert "```promql" in text, f"{name}.md: no PromQL to diagnose with"


def test_the_bucket_bounds_the_generator_trusts_are_the_catalogued_ones() -> None:
    catalogue = (ALERTING / "metrics.md").read_text(encoding="utf-8")
    for metric, bounds in slo_spec.HISTOGRAM_BUCKETS.items():
        row = re.search(rf"^\| `{metric}` \| histogram \|(.*)$", catalogue, re.M)
        assert row, f"{metric} is not a catalogued histogram"
        cells = [c.strip() for c in row[1].split("|")]
        assert tuple(float(b) for b in cells[2].split()) == bounds, metric


def test_a_scaled_render_is_valid_and_keeps_every_rule(
    spec: slo_spec.ObjectiveSpec, tmp_path: Path
) -> None:
    scaled = render(spec, window_scale=1 / 60)
    path = tmp_path / "slo_drill.yml"
    path.write_text(scaled)
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", path)
    assert result.returncode == 0, result.stdout + result.stderr
    full, drill = alert_rules([RULES_DIR / "slo.yml"]), alert_rules([path])
    assert [(r.name, r.labels["slo"]) for r in full] == [(r.name, r.labels["slo"]) for r in drill]
    page = next(r for r in drill if r.labels.get("long") == "1m")
    assert (page.labels["short"], page.hold) == ("5s", "2s")
    assert "[5s]" in scaled
    assert "[72m]" in scaled  # 3d
    assert "[3d]" not in scaled
    with pytest.raises(slo_spec.ObjectiveError, match=r"5m into 1\.5s, under the 2s floor"):
        render(spec, window_scale=0.005)


def _spec_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = copy.deepcopy(dict(load_slo.load().raw))
    change(raw)
    return raw


def _latency(raw: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = raw["objectives"]["latency"]
    return section


BAD_SPECS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "threshold not a bucket bound": (
        lambda raw: raw["endpoints"]["POST /api/v1/playback/sessions"].update(p95_ms=210),
        r"endpoints\['POST /api/v1/playback/sessions'\]\.p95_ms = 210 ms is not a bucket bound "
        r"of http_request_duration_seconds",
    ),
    "unknown service owning a route": (
        lambda raw: _latency(raw)["services"].update({"GET /api/v1/search": "discovry"}),
        r"services\['GET /api/v1/search'\]: unknown service 'discovry'",
    ),
    "unknown availability service": (
        lambda raw: raw["objectives"]["availability"].update(billing={"objective": 99.9}),
        r"availability\['billing'\]: unknown service 'billing'",
    ),
    "misspelled key": (
        lambda raw: raw["objectives"]["availability"].update(auth={"objectiv": 99.9}),
        r"availability\['auth'\]: unknown key\(s\) objectiv",
    ),
    "misspelled section": (
        lambda raw: raw.update(objectivs=raw.pop("objectives")),
        r"unknown section\(s\) objectivs",
    ),
    "route of no endpoint": (
        lambda raw: _latency(raw)["services"].update({"GET /api/v1/serach": "discovery"}),
        r"services\['GET /api/v1/serach'\]: not an endpoint of this file",
    ),
    "endpoint without its service": (
        lambda raw: _latency(raw)["services"].pop("GET /api/v1/recommendations"),
        r"endpoints\['GET /api/v1/recommendations'\] has a p95_ms threshold but no service",
    ),
    "unknown histogram": (
        lambda raw: _latency(raw)["services"].update(
            {"WS /api/v1/sync/ws propagation": {"service": "sync", "histogram": "sync_lag"}}
        ),
        r"propagation'\]\.histogram: 'sync_lag' is not one of sync_propagation_seconds",
    ),
    "objective no page could reach": (
        lambda raw: raw["objectives"]["availability"].update(sync={"objective": 90}),
        r"availability\['sync'\]\.objective: 90 % leaves a 10% budget",
    ),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_a_bad_spec_entry_fails_naming_it(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, message = BAD_SPECS[case]
    raw = _spec_with(change)
    with pytest.raises(load_slo.SloError, match=message):
        slo_spec.parse(load_slo.parse(raw))
    bad = tmp_path / "slo.yaml"
    bad.write_text(slo_spec.dump_yaml(raw))
    assert slo_rules.main(["--spec", str(bad), "--check"]) == 2
    assert re.search(message, capsys.readouterr().err)


def _mutated_run(
    rule_file: str, old: str, new: str, test_files: list[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The committed unit tests against a copy of the rules with one change."""
    original = (RULES_DIR / rule_file).read_text(encoding="utf-8")
    assert old in original
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / rule_file).write_text(original.replace(old, new))
    for name in test_files:
        (tmp_path / "tests" / name).write_text((TESTS_DIR / name).read_text(encoding="utf-8"))
    return promtool("test", "rules", *test_files, cwd=tmp_path / "tests")


def test_the_generated_tests_fail_when_a_page_threshold_is_lowered(tmp_path: Path) -> None:
    # 12x instead of 14.4x: the steady 12.96x burn of the "under" scenario now pages.
    result = _mutated_run("slo.yml", "> 14.4\n", "> 12\n", ["slo_test.yml"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # The "under" check (quiet expected at 10m) now sees every objective's 1h pair firing.
    assert "time: 10m," in result.stderr, result.stderr
    assert "exp: nil" in result.stderr
    assert '{long="1h", severity="P0", slo="gateway-availability"}' in result.stderr


MUTATIONS = {
    "DependencyDown counting Redis twice": (
        'dependency_up{required="true",dependency!="redis"} == 0',
        'dependency_up{required="true"} == 0',
    ),
    "RateLimitSurge without its traffic floor": (
        "          and\n          sum by (service) (rate(http_requests_total[5m])) > 1\n",
        "\n",
    ),
    "KafkaOutboxBacklog alerting on a steady backlog": (
        "(kafka_outbox_pending > 100 and deriv(kafka_outbox_pending[15m]) > 0)",
        "(kafka_outbox_pending > 100)",
    ),
    "ServiceDown on any job": (
        'up{job="mediagw",component=~"gateway|all-in-one"} == 0',
        'up{component=~"gateway|all-in-one"} == 0',
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_the_service_alert_tests_fail_when_a_rule_is_wrong(mutation: str, tmp_path: Path) -> None:
    old, new = MUTATIONS[mutation]
    result = _mutated_run("services.yml", old, new, ["services_test.yml"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stderr, result.stdout
