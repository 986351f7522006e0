"""The gate's reports (harness.gate.report) for each verdict: pass, regression, could not judge.

Fixtures are real load-run directories in tmp dirs: results.json with a per-second timeline and
histograms.json with HDR histograms recorded through the load engine's own ``Series`` (so the
charts read what a real run writes); the GateResult around them is built directly, as the
judging engine would fill it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from harness.gate.model import (
    Change,
    FiredAlert,
    GateResult,
    MetricComparison,
    Run,
    SloRow,
    Verdict,
)
from harness.gate.report import write_reports
from harness.gate.report.charts import slugs, spectrum
from harness.gate.report.content import change_points
from harness.gate.report.markdown import LIMIT, MARKER
from harness.load.stats import Series, encode, new_histogram

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n"
SEARCH = "GET /api/v1/search"
CONTENT = "GET /api/v1/content/{content_id}"
TOKEN = "POST /api/v1/auth/token"
TYPICAL_MS = {SEARCH: 40.0, CONTENT: 6.0, TOKEN: 12.0}
STARTED = 1_760_000_000.25
SECONDS = 24
GRAFANA = "https://grafana.example.test"

# --- building real run directories ---------------------------------------------------------


def sha(seed: int) -> str:
    return hashlib.sha1(str(seed).encode()).hexdigest()  # a commit id's shape, not security


def build_run(
    directory: Path,
    run_id: str,
    *,
    started_at: float = STARTED,
    slower: Mapping[str, float] | None = None,
    fingerprint: str = "fp-1",
    seed: int = 1,
    per_second: int = 25,
) -> Run:
    """A load run as the engine writes it: per-second timeline rows and whole-run histograms
    (corrected from the intended start, actual from the send), figures in milliseconds."""
    rng = random.Random(seed)
    slower = slower or {}
    totals = {name: Series() for name in TYPICAL_MS}
    timeline = []
    for second in range(SECONDS):
        seconds = {name: Series() for name in TYPICAL_MS}
        for name, typical in TYPICAL_MS.items():
            for _ in range(per_second):
                actual = rng.lognormvariate(math.log(typical * slower.get(name, 1.0)), 0.3)
                late = rng.expovariate(1 / typical) if rng.random() < 0.03 else 0.0
                failed = rng.random() < 0.002
                seconds[name].record(actual, actual + late, failed)
                totals[name].record(actual, actual + late, failed)
        timeline.append(
            {
                "at": int(started_at) + second,
                "stage": "warm-up" if second < 6 else "steady",
                "users": 20,
                "target_rate": float(per_second),
                "iterations": per_second,
                "dropped": 0,
                "endpoints": {
                    name: {k: v for k, v in s.summary().items() if not k.startswith("mean")}
                    for name, s in seconds.items()
                },
            }
        )
    results: dict[str, Any] = {
        "run_id": run_id,
        "verdict": "PASS",
        "exit_code": 0,
        "reasons": [],
        "started_at": started_at,
        "ended_at": started_at + SECONDS,
        "duration_s": float(SECONDS),
        "profile": {"name": "browse", "preset": "ci", "scale": 0.02, "time_scale": 0.05},
        "environment": {"fingerprint": fingerprint},
        "code": {"git_sha": sha(seed), "branch": "main", "dirty": "no"},
        "iterations": SECONDS * per_second,
        "dropped": 0,
        "dropped_rate": 0.0,
        "endpoints": {
            name: {**s.summary(), "throughput_rps": round(s.count / SECONDS, 3)}
            for name, s in totals.items()
        },
        "slo": {
            "latency": "corrected",
            "verdict": "pass",
            "thresholds": [
                {
                    "scope": name,
                    "metric": "p95_ms",
                    "limit": 500.0,
                    "outcome": "pass",
                    "value": s.summary()["p95"],
                    "detail": "",
                }
                for name, s in totals.items()
            ],
        },
        "generator": {"saturated": False, "samples": SECONDS, "processes": 1},
        "generator_saturated": False,
        "aborted": None,
        "events": [],
        "timeline": timeline,
    }
    histograms = {
        name: {"corrected": encode(s.corrected), "actual": encode(s.actual), "count": s.count}
        for name, s in totals.items()
    }
    run_dir = directory / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (run_dir / "histograms.json").write_text(json.dumps(histograms), encoding="utf-8")
    return Run(run_id, run_dir, results, histograms)


def compare(
    baseline: Run, candidate: Run, endpoint: str, metric: str, change: Change, evidence: str
) -> MetricComparison:
    base = float(baseline.results["endpoints"][endpoint][metric])
    cand = float(candidate.results["endpoints"][endpoint][metric])
    return MetricComparison(
        endpoint, metric, base, cand, cand / base, change, 0.001, 1.1, 1.3, 0.08, evidence
    )


def quiet(baseline: Run, candidate: Run, endpoint: str) -> list[MetricComparison]:
    return [
        compare(baseline, candidate, endpoint, m, Change.UNCHANGED, "CI of ratio [0.95, 1.06] ∋ 1")
        for m in ("p50", "p95", "p99")
    ]


SLO_PASS = [
    SloRow(SEARCH, "p95_ms", 500.0, 48.0, "pass"),
    SloRow(CONTENT, "p95_ms", 50.0, 7.5, "pass"),
    SloRow("overall", "error_rate", 0.01, 0.002, "pass"),
]


def build_result(verdict: Verdict, root: Path) -> GateResult:
    """The three verdicts as the engine would report them."""
    baseline = build_run(root / "runs", "20251009T080000Z-browse-ci-base", seed=1)
    if verdict is Verdict.PASS:
        candidate = build_run(root / "runs", "20251009T090000Z-browse-ci-pass", seed=2)
        return GateResult(
            Verdict.PASS,
            "no endpoint regressed beyond its noise floor; every SLO threshold passes",
            baseline,
            candidate,
            comparisons=[c for e in TYPICAL_MS for c in quiet(baseline, candidate, e)],
            slo=SLO_PASS,
        )
    if verdict is Verdict.REGRESSION:
        candidate = build_run(
            root / "runs",
            "20251009T100000Z-browse-ci-slow",
            seed=3,
            slower={SEARCH: 1.25, TOKEN: 0.7},
        )
        comparisons = [
            *quiet(baseline, candidate, CONTENT),
            compare(baseline, candidate, SEARCH, "p50", Change.UNCHANGED, "below minimum effect"),
            compare(
                baseline,
                candidate,
                SEARCH,
                "p95",
                Change.REGRESSION,
                "bootstrap 95% CI of ratio [1.18, 1.31] > 1 + min effect 0.08; MWU p<0.001",
            ),
            compare(
                baseline,
                candidate,
                SEARCH,
                "p99",
                Change.REGRESSION,
                "bootstrap 95% CI of ratio [1.12, 1.40] > 1.08; MWU p<0.001",
            ),
            compare(
                baseline,
                candidate,
                TOKEN,
                "p95",
                Change.IMPROVEMENT,
                "bootstrap 95% CI of ratio [0.64, 0.75] < 1 - 0.08; MWU p<0.001",
            ),
            MetricComparison(
                SEARCH,
                "error_rate",
                0.002,
                0.004,
                math.inf,
                Change.UNCHANGED,
                0.4,
                None,
                None,
                0.005,
                "two-proportion z p=0.4",
            ),
        ]
        return GateResult(
            Verdict.REGRESSION,
            f"{SEARCH} p95 +24% (CI 1.18-1.31, minimum 8%)",
            baseline,
            candidate,
            comparisons=comparisons,
            slo=[*SLO_PASS, SloRow(TOKEN, "p99_ms", 150.0, 181.0, "fail")],
            alerts=[
                FiredAlert(
                    "SearchLatencyBurnRateFast",
                    "P1",
                    "discovery",
                    {
                        "alertname": "SearchLatencyBurnRateFast",
                        "severity": "P1",
                        "service": "discovery",
                        "window": "1h",
                    },
                )
            ],
            notes=["noise calibration from 10 A/A runs (reports/baselines/ci/noise.json)"],
        )
    candidate = build_run(
        root / "runs", "20251009T110000Z-browse-ci-other", seed=4, fingerprint="fp-2"
    )
    return GateResult(
        Verdict.CANNOT_JUDGE,
        "environment fingerprints differ (fp-1 ≠ fp-2)",
        baseline,
        candidate,
        slo=[SloRow(SEARCH, "p95_ms", 500.0, None, "error")],
        refusals=[
            "environment fingerprints differ (fp-1 ≠ fp-2)",
            f"{CONTENT}: too few samples (12 < 200)",
        ],
    )


def chartless(result: GateResult) -> GateResult:
    """The same decision without timelines or histograms: for tests about text, not charts
    (each chart costs ~0.25 s to draw)."""

    def bare(run: Run) -> Run:
        results = {k: v for k, v in run.results.items() if k != "timeline"}
        return replace(run, results=results, histograms={})

    return replace(result, baseline=bare(result.baseline), candidate=bare(result.candidate))


HISTORY_RUNS = 8


def build_history(root: Path) -> list[dict[str, Any]]:
    """Main-branch runs, the search endpoint 30 % slower from the sixth run on."""
    history = []
    for index in range(HISTORY_RUNS):
        slower = {SEARCH: 1.3} if index >= 5 else {}
        run = build_run(
            root / "history",
            f"2025100{index}T080000Z-browse-ci",
            started_at=STARTED - (HISTORY_RUNS - index) * 86_400,
            slower=slower,
            seed=100 + index,
            per_second=5,
        )
        history.append(run.results)
    return history


# --- written once per verdict --------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    result: GateResult
    out_dir: Path
    paths: list[Path]

    def text(self, name: str) -> str:
        return (self.out_dir / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Verdict, Written]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MGH_GRAFANA_URL", GRAFANA + "/")
        out: dict[Verdict, Written] = {}
        for verdict in Verdict:
            root = tmp_path_factory.mktemp(verdict.value)
            result = build_result(verdict, root)
            out_dir = root / "out" / result.candidate.run_id
            (root / "out").mkdir(exist_ok=True)
            (root / "out" / "contracts-summary.md").write_text(
                "# Contract run (contracts)\n\nno failures · 7 operations\n\n"
                "| suite | failed |\n|---|---:|\n| stateful · direct | 0 |\n",
                encoding="utf-8",
            )
            history = build_history(root) if verdict is Verdict.REGRESSION else None
            points = {SEARCH: [5, HISTORY_RUNS]} if history else None
            paths = write_reports(result, out_dir, history, points)
            out[verdict] = Written(result, out_dir, paths)
        yield out


LABELS = {
    Verdict.PASS: "**PASS**",
    Verdict.REGRESSION: "**REGRESSION**",
    Verdict.CANNOT_JUDGE: "**COULD NOT JUDGE**",
}
ALL = list(Verdict)


# --- every file ------------------------------------------------------------------------------


@pytest.mark.parametrize("verdict", ALL, ids=lambda v: v.value)
def test_every_report_is_written_and_listed(
    written: dict[Verdict, Written], verdict: Verdict
) -> None:
    w = written[verdict]
    names = {p.name for p in w.paths}
    assert {
        "pr-comment.md",
        "report.html",
        "junit.xml",
        "summary.json",
        "grafana-annotation.json",
        "latency-over-time.png",
    } <= names
    assert {p.name for p in w.out_dir.iterdir()} == names
    assert json.loads(w.text("summary.json"))["paths"] == [p.name for p in w.paths]


def test_charts_have_deterministic_names_and_are_pngs(written: dict[Verdict, Written]) -> None:
    w = written[Verdict.REGRESSION]
    charts = sorted(p.name for p in w.paths if p.suffix == ".png")
    assert charts == sorted(
        ["latency-over-time.png"]
        + [
            f"distribution-{s}.png"
            for s in (
                "get-api-v1-search",
                "get-api-v1-content-content-id",
                "post-api-v1-auth-token",
            )
        ]
        + [
            f"history-{s}.png"
            for s in (
                "get-api-v1-search",
                "get-api-v1-content-content-id",
                "post-api-v1-auth-token",
            )
        ]
    )
    for path in w.paths:
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG), path.name
    assert not any(p.name.startswith("history-") for p in written[Verdict.PASS].paths)


def test_rewriting_removes_charts_of_endpoints_no_longer_compared(tmp_path: Path) -> None:
    result = build_result(Verdict.PASS, tmp_path)
    out_dir = tmp_path / "out" / "r"
    write_reports(result, out_dir, contracts=tmp_path / "none.md")
    (out_dir / "distribution-gone.png").write_bytes(PNG)
    fewer = replace(
        result,
        candidate=replace(result.candidate, histograms={}),
        baseline=replace(result.baseline, histograms={}),
        comparisons=[],
    )
    paths = write_reports(fewer, out_dir, contracts=tmp_path / "none.md")
    assert not list(out_dir.glob("distribution-*.png"))
    assert {p.name for p in out_dir.iterdir()} == {p.name for p in paths}


# --- pr-comment.md ---------------------------------------------------------------------------


@pytest.mark.parametrize("verdict", ALL, ids=lambda v: v.value)
def test_pr_comment_starts_with_marker_then_verdict_and_reason(
    written: dict[Verdict, Written], verdict: Verdict
) -> None:
    w = written[verdict]
    lines = w.text("pr-comment.md").splitlines()
    assert lines[0] == MARKER
    assert LABELS[verdict] in lines[1]
    assert w.result.reason in lines[1]
    assert len(w.text("pr-comment.md")) <= LIMIT


def test_pr_comment_expands_notable_rows_and_folds_the_rest(
    written: dict[Verdict, Written],
) -> None:
    text = written[Verdict.REGRESSION].text("pr-comment.md")
    endpoints = text[text.index("### Endpoints") : text.index("### SLO")]
    assert (
        "1 regression, 1 improvement, 1 unchanged of 3 endpoints · "
        "SLO thresholds: 1 fail of 4 · P0/P1 alerts fired: 1"
    ) in endpoints
    assert "SLO thresholds: all 3 pass" in written[Verdict.PASS].text("pr-comment.md")
    expanded, folded = endpoints.split("<details>")
    assert f"`{SEARCH}` | **regression: p95, p99**" in expanded
    assert f"`{TOKEN}` | **improvement: p95**" in expanded
    assert CONTENT not in expanded
    assert f"`{CONTENT}` | unchanged" in folded
    search = next(line for line in expanded.splitlines() if line.startswith(f"| `{SEARCH}`"))
    assert "bootstrap 95% CI of ratio [1.18, 1.31]" in search
    assert re.search(r"\*\*\d+\.\d ms → \d+\.\d ms \(\+\d+\.\d%\)\*\*", search)
    assert "MWU p&lt;0.001" in search  # a "<" would open raw HTML on GitHub


def test_pr_comment_lists_slo_failures_alerts_notes_and_history(
    written: dict[Verdict, Written],
) -> None:
    text = written[Verdict.REGRESSION].text("pr-comment.md")
    slo = text[text.index("### SLO") :]
    assert f"| `{TOKEN}` | p99_ms | 150 ms | 181 ms | **FAIL** |" in slo.split("<details>")[0]
    assert "3 threshold(s) pass" in slo
    assert "- **P1** `SearchLatencyBurnRateFast` (service discovery) — window=1h" in text
    assert "noise calibration from 10 A/A runs" in text
    assert f"`{SEARCH}` shifted from git `{sha(100 + 5)[:12]}` (run #5)" in text


def test_pr_comment_of_a_refusal_lists_why(written: dict[Verdict, Written]) -> None:
    text = written[Verdict.CANNOT_JUDGE].text("pr-comment.md")
    refusals = text[text.index("### Could not judge") :]
    assert "- environment fingerprints differ (fp-1 ≠ fp-2)" in refusals
    assert f"- {CONTENT}: too few samples (12 &lt; 200)" in refusals
    assert "_No endpoint was compared._" in text
    assert "no endpoint compared · SLO thresholds: 1 error of 1 · P0/P1 alerts fired: 0" in text
    assert "**ERROR**" in text


def test_pr_comment_links_grafana_to_the_run_window(written: dict[Verdict, Written]) -> None:
    w = written[Verdict.PASS]
    text = w.text("pr-comment.md")
    start, end = math.floor(STARTED * 1000), math.ceil((STARTED + SECONDS) * 1000)
    url = (
        f"{GRAFANA}/d/mgh-load-results/?from={start}&to={end}"
        f"&var-run_id={w.result.candidate.run_id}"
    )
    assert f"[candidate {w.result.candidate.run_id}]({url})" in text
    assert f"[baseline {w.result.baseline.run_id}](" in text


def test_grafana_defaults_to_localhost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGH_GRAFANA_URL", raising=False)
    result = chartless(build_result(Verdict.PASS, tmp_path))
    write_reports(result, tmp_path / "out" / "r")
    assert "(http://localhost:3000/d/mgh-load-results/?from=" in (
        tmp_path / "out" / "r" / "pr-comment.md"
    ).read_text(encoding="utf-8")


def test_pr_comment_carries_the_contracts_summary_nested_and_trimmed(
    written: dict[Verdict, Written], tmp_path: Path
) -> None:
    text = written[Verdict.PASS].text("pr-comment.md")
    section = text[text.index("### Contracts & fuzzing") :]
    assert "#### Contract run (contracts)" in section  # "#" demoted below our "###" heading
    assert "| stateful · direct | 0 |" in section
    long_summary = tmp_path / "contracts-summary.md"
    long_summary.write_text(
        "# Contract run\n" + "".join(f"- scenario {i}: ok\n" for i in range(2000)),
        encoding="utf-8",
    )
    result = chartless(build_result(Verdict.PASS, tmp_path))
    write_reports(result, tmp_path / "out" / "r", contracts=long_summary)
    trimmed = (tmp_path / "out" / "r" / "pr-comment.md").read_text(encoding="utf-8")
    assert "- scenario 10: ok" in trimmed
    assert "- scenario 1999: ok" not in trimmed
    assert "_(trimmed: the full summary is" in trimmed


def test_pr_comment_without_contracts_summary_has_no_such_section(tmp_path: Path) -> None:
    result = chartless(build_result(Verdict.PASS, tmp_path))
    write_reports(result, tmp_path / "out" / "r")
    assert "Contracts" not in (tmp_path / "out" / "r" / "pr-comment.md").read_text(encoding="utf-8")


def many_endpoints(result: GateResult, count: int, change: Change) -> GateResult:
    """``count`` extra compared endpoints with long evidence, no histograms (no charts)."""
    extra = [
        MetricComparison(
            f"GET /api/v1/generated/{i:05d}/{{item_id}}",
            metric,
            10.0,
            13.0 if change is Change.REGRESSION else 10.1,
            1.3 if change is Change.REGRESSION else 1.01,
            change,
            0.01,
            1.2,
            1.4,
            0.08,
            "bootstrap 95% CI of ratio [1.2, 1.4] " + "x" * 60,
        )
        for i in range(count)
        for metric in ("p50", "p95", "p99")
    ]
    return replace(result, comparisons=[*result.comparisons, *extra])


def test_long_comment_folds_unchanged_rows_away_first(tmp_path: Path) -> None:
    result = many_endpoints(
        chartless(build_result(Verdict.REGRESSION, tmp_path)), 400, Change.UNCHANGED
    )
    write_reports(result, tmp_path / "out" / "r", contracts=tmp_path / "none.md")
    text = (tmp_path / "out" / "r" / "pr-comment.md").read_text(encoding="utf-8")
    assert len(text) <= LIMIT
    assert "401 endpoint(s) without a notable change: left out to fit the comment" in text
    assert f"| `{SEARCH}` | **regression: p95, p99** |" in text
    assert "Truncated" not in text
    html = (tmp_path / "out" / "r" / "report.html").read_text(encoding="utf-8")
    assert "GET /api/v1/generated/00399/{item_id}" in html  # the HTML keeps every row


def test_very_long_comment_is_cut_with_a_note_keeping_verdict_and_links(tmp_path: Path) -> None:
    result = many_endpoints(
        chartless(build_result(Verdict.REGRESSION, tmp_path)), 600, Change.REGRESSION
    )
    write_reports(result, tmp_path / "out" / "r", contracts=tmp_path / "none.md")
    text = (tmp_path / "out" / "r" / "pr-comment.md").read_text(encoding="utf-8")
    assert len(text) <= LIMIT
    assert text.startswith(MARKER + "\n## Load regression gate: **REGRESSION**")
    assert re.search(r"_Truncated: [\d,]+ characters left out", text)
    assert text.count("<details>") == text.count("</details>")
    assert "/d/mgh-load-results/?from=" in text
    assert "report.html`" in text


# --- report.html -----------------------------------------------------------------------------


@pytest.mark.parametrize("verdict", ALL, ids=lambda v: v.value)
def test_html_is_self_contained_and_phone_ready(
    written: dict[Verdict, Written], verdict: Verdict
) -> None:
    w = written[verdict]
    html = w.text("report.html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html.lower()
    assert 'src="http' not in html
    external = re.findall(r'href="(http[^"]*)"', html)
    assert external
    assert all(url.startswith(f"{GRAFANA}/d/mgh-load-results/?") for url in external)
    assert "Content-Security-Policy" in html
    assert "@import" not in html
    assert "url(" not in html
    title = re.search(r"<title>(.*?)</title>", html)
    assert title
    assert LABELS[verdict].strip("*") in title.group(1)
    assert w.result.candidate.run_id in title.group(1)


def test_html_inlines_every_chart_byte_for_byte(written: dict[Verdict, Written]) -> None:
    w = written[Verdict.REGRESSION]
    html = w.text("report.html")
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    charts = [p for p in w.paths if p.suffix == ".png"]
    assert sorted(base64.b64decode(i) for i in images) == sorted(p.read_bytes() for p in charts)


def test_html_says_what_the_comment_says(written: dict[Verdict, Written]) -> None:
    html = written[Verdict.REGRESSION].text("report.html")
    for text in (
        "REGRESSION",
        f"{SEARCH} p95 +24%",
        "regression: p95, p99",
        "improvement: p95",
        "SearchLatencyBurnRateFast",
        "noise calibration from 10 A/A runs",
        "Contracts &amp; fuzzing",
        "<table>",  # the contracts summary's table, rendered
        'href="junit.xml"',
    ):
        assert text in html, text
    assert html.count('<div class="scroll">') >= 2


# --- junit.xml -------------------------------------------------------------------------------


def counts(element: ET.Element) -> dict[str, int]:
    return {k: int(element.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")}


def cases(root: ET.Element, suite: str) -> list[ET.Element]:
    found = root.find(f"testsuite[@name='{suite}']")
    assert found is not None
    return found.findall("testcase")


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        # tests = comparability + endpoints + SLO rows + alerts (or the one "none fired" case)
        (Verdict.PASS, {"tests": 1 + 3 + 3 + 1, "failures": 0, "errors": 0, "skipped": 0}),
        (Verdict.REGRESSION, {"tests": 1 + 3 + 4 + 1, "failures": 3, "errors": 0, "skipped": 0}),
        (Verdict.CANNOT_JUDGE, {"tests": 2 + 0 + 1 + 1, "failures": 0, "errors": 3, "skipped": 0}),
    ],
    ids=lambda v: v.value if isinstance(v, Verdict) else "",
)
def test_junit_counts(
    written: dict[Verdict, Written], verdict: Verdict, expected: dict[str, int]
) -> None:
    root = ET.fromstring(written[verdict].text("junit.xml").encode())
    assert root.tag == "testsuites"
    assert counts(root) == expected
    for suite in root.findall("testsuite"):
        testcases = suite.findall("testcase")
        assert counts(suite) == {
            "tests": len(testcases),
            "failures": sum(1 for c in testcases if c.find("failure") is not None),
            "errors": sum(1 for c in testcases if c.find("error") is not None),
            "skipped": sum(1 for c in testcases if c.find("skipped") is not None),
        }


def test_junit_names_the_regression_and_its_evidence(written: dict[Verdict, Written]) -> None:
    root = ET.fromstring(written[Verdict.REGRESSION].text("junit.xml").encode())
    failed = {c.get("name"): c.find("failure") for c in cases(root, "gate.endpoints")}
    assert failed[CONTENT] is None
    assert failed[TOKEN] is None
    failure = failed[SEARCH]
    assert failure is not None
    assert "p95: bootstrap 95% CI of ratio [1.18, 1.31]" in failure.get("message", "")
    slo = {c.get("name"): c for c in cases(root, "gate.slo")}
    assert slo[f"{TOKEN} p99_ms ≤ 150 ms"].find("failure") is not None
    (alert,) = cases(root, "gate.alerts")
    assert alert.get("name") == "SearchLatencyBurnRateFast (discovery)"
    assert alert.find("failure") is not None


def test_junit_reports_each_refusal_as_an_error(written: dict[Verdict, Written]) -> None:
    root = ET.fromstring(written[Verdict.CANNOT_JUDGE].text("junit.xml").encode())
    errors = {c.get("name"): c.find("error") for c in cases(root, "gate.comparability")}
    for refusal in written[Verdict.CANNOT_JUDGE].result.refusals:
        error = errors[f"like with like: {refusal}"]
        assert error is not None
        assert error.get("message") == refusal
    passing = ET.fromstring(written[Verdict.PASS].text("junit.xml").encode())
    (alike,) = cases(passing, "gate.comparability")
    assert alike.get("name") == "runs are comparable"
    assert list(alike) == []  # no failure, error or skipped child: it passed


def test_junit_skips_endpoints_with_too_few_samples(tmp_path: Path) -> None:
    result = chartless(build_result(Verdict.PASS, tmp_path))
    thin = MetricComparison(
        CONTENT,
        "p95",
        6.0,
        6.1,
        1.01,
        Change.NOT_JUDGED,
        None,
        None,
        None,
        0.08,
        "too few samples: 12 < 200",
    )
    result = replace(
        result, comparisons=[c for c in result.comparisons if c.endpoint != CONTENT] + [thin]
    )
    write_reports(result, tmp_path / "out" / "r")
    root = ET.fromstring((tmp_path / "out" / "r" / "junit.xml").read_bytes())
    skipped = {c.get("name"): c.find("skipped") for c in cases(root, "gate.endpoints")}
    element = skipped[CONTENT]
    assert element is not None
    assert element.get("message") == "too few samples: 12 < 200"
    assert counts(root)["skipped"] == 1


# --- summary.json and grafana-annotation.json ------------------------------------------------


@pytest.mark.parametrize("verdict", ALL, ids=lambda v: v.value)
def test_summary_json(written: dict[Verdict, Written], verdict: Verdict) -> None:
    w = written[verdict]
    summary = json.loads(w.text("summary.json"))
    assert summary["verdict"] == verdict.value
    assert summary["exit_code"] == verdict.exit_code
    assert summary["reason"] == w.result.reason
    assert summary["candidate"]["run_id"] == w.result.candidate.run_id
    assert summary["baseline"]["run_id"] == w.result.baseline.run_id
    assert summary["refusals"] == w.result.refusals
    assert len(summary["comparisons"]) == len(w.result.comparisons)
    assert len(summary["slo"]) == len(w.result.slo)
    assert len(summary["alerts"]) == len(w.result.alerts)


def test_summary_json_has_no_nan_or_infinity(written: dict[Verdict, Written]) -> None:
    summary = json.loads(
        written[Verdict.REGRESSION].text("summary.json"),
        parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"),
    )
    rate = next(c for c in summary["comparisons"] if c["metric"] == "error_rate")
    assert rate["ratio"] is None  # math.inf in the result
    assert rate["change"] == "unchanged"
    assert [e["change"] for e in summary["endpoints"]][:2] == ["regression", "improvement"]
    assert summary["change_points"][0]["index"] == 5


@pytest.mark.parametrize("verdict", ALL, ids=lambda v: v.value)
def test_grafana_annotation_payload(written: dict[Verdict, Written], verdict: Verdict) -> None:
    w = written[verdict]
    payload = json.loads(w.text("grafana-annotation.json"))
    assert payload == {
        "dashboardUID": "mgh-load-results",
        "time": math.floor(STARTED * 1000),
        "timeEnd": math.ceil((STARTED + SECONDS) * 1000),
        "tags": ["mgh", "load", "browse", verdict.value],
        "text": payload["text"],
    }
    assert payload["text"].startswith(f"mgh gate {LABELS[verdict].strip('*')}: {w.result.reason}")


def test_runs_without_results_still_get_every_report_they_can(tmp_path: Path) -> None:
    """A refusal because the candidate's results are unreadable: no window, no timeline."""
    result = build_result(Verdict.CANNOT_JUDGE, tmp_path)
    empty = replace(result.candidate, results={}, histograms={})
    result = replace(result, candidate=empty, refusals=["results.json: not valid JSON"])
    paths = write_reports(result, tmp_path / "out" / "r")
    names = [p.name for p in paths]
    assert "grafana-annotation.json" not in names
    assert "latency-over-time.png" not in names
    assert names[:4] == ["pr-comment.md", "report.html", "junit.xml", "summary.json"]
    text = paths[0].read_text(encoding="utf-8")
    assert "profile unknown" in text
    assert f"[candidate {empty.run_id}]" not in text  # no window, no link


# --- the pieces --------------------------------------------------------------------------------


def test_spectrum_reads_percentiles_from_the_hdr_histogram() -> None:
    histogram = new_histogram()
    for value_ms in range(1, 10_001):
        histogram.record_value(value_ms * 1000)
    xs, ys = spectrum(encode(histogram))
    assert xs[0] == 1
    assert xs[-1] == pytest.approx(10_000)
    assert ys[0] == pytest.approx(1, rel=0.01)  # p0 → the smallest value
    p99 = ys[min(range(len(xs)), key=lambda i: abs(xs[i] - 100))]
    assert p99 == pytest.approx(9900, rel=0.01)
    assert ys == sorted(ys)


def test_slugs_are_stable_and_unique() -> None:
    assert slugs(
        [CONTENT, "GET /api/v1/content/{content-id}", "WS /api/v1/sync/ws propagation"]
    ) == {
        "GET /api/v1/content/{content-id}": "get-api-v1-content-content-id",
        CONTENT: "get-api-v1-content-content-id-2",
        "WS /api/v1/sync/ws propagation": "ws-api-v1-sync-ws-propagation",
    }


def test_change_points_take_indices_or_run_ids() -> None:
    history = [
        {"run_id": f"r{i}", "started_at": float(i), "code": {"git_sha": sha(i)}} for i in range(6)
    ]
    found = change_points(history, {"b": ["r3"], "a": [0, 2, 6, 9]})
    assert [(c.endpoint, c.index, c.run_id) for c in found] == [("a", 2, "r2"), ("b", 3, "r3")]
    assert found[0].git_sha == sha(2)[:12]
    assert change_points(None, {"a": [1]}) == []
