"""SLOs and error budgets, one row per objective of ``load/slo.yaml`` (``harness.obs.slo_spec``).

Each row shows the SLI over the whole SLO period, the error budget left, and the burn rate over
the long windows of the paging burn-rate alerts, with the alerts' factors as threshold lines.
The SLI's PromQL is the objective's own ``error_ratio`` — the expression the burn-rate rules
record — so the dashboard and the alerts cannot disagree on what counts as a bad event. Its
windows are the SLO's, fixed by definition, not ``$__rate_interval``: the lint allows exactly
these (``FIXED_WINDOWS``) in this dashboard and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.obs import slo_spec
from harness.obs.dashboards.common import Board, Prom, Step, graph, single

UID = "mgh-slo"
PERIOD = slo_spec.duration(slo_spec.PERIOD_DAYS * 86400)
PAGE_PAIRS = tuple(pair for pair in slo_spec.BURN_PAIRS if pair.page)
BURN_WINDOWS = tuple(slo_spec.duration(pair.long) for pair in PAGE_PAIRS)
PAGE_FACTORS = tuple(sorted(pair.factor for pair in PAGE_PAIRS))
FIXED_WINDOWS = (PERIOD, *BURN_WINDOWS)


def _one_line(expr: str) -> str:
    return " ".join(expr.split())


def _error_ratio(objective: slo_spec.Objective, window: str) -> str:
    return f"({_one_line(objective.error_ratio(window))})"


def _add_objective(board: Board, objective: slo_spec.Objective) -> None:
    name, budget = objective.name, slo_spec.number(objective.budget)
    target = objective.objective / 100
    board.row(f"{name}: {objective.what()}")
    board.add(
        single(
            f"{name}: SLI over {PERIOD}",
            f"Share of good events over the last {PERIOD} (objective "
            f"{slo_spec.number(objective.objective)} %): {objective.what()}.",
            "percentunit",
            Prom(f"1 - {_error_ratio(objective, PERIOD)}", "SLI", instant=True),
            steps=(Step(None, "red"), Step(target, "green")),
            decimals=3,
            width=5,
            height=6,
        ),
        single(
            f"{name}: error budget left",
            f"Share of the {PERIOD} error budget ({slo_spec.number(objective.budget * 100)} % "
            "bad events) not yet spent; below zero the objective is missed.",
            "percentunit",
            Prom(f"1 - {_error_ratio(objective, PERIOD)} / {budget}", "budget left", instant=True),
            steps=(Step(None, "red"), Step(0, "orange"), Step(0.25, "green")),
            decimals=1,
            width=5,
            height=6,
        ),
        graph(
            f"{name}: burn rate",
            "How many times faster than sustainable the error budget is being spent, over the "
            "paging alerts' long windows (1 = the budget lasts exactly the period); lines at "
            "the page factors.",
            "none",
            *(
                Prom(f"{_error_ratio(objective, window)} / {budget}", f"burn rate {window}")
                for window in BURN_WINDOWS
            ),
            steps=(
                Step(None, "green"),
                *(Step(f, "red" if f == PAGE_FACTORS[-1] else "orange") for f in PAGE_FACTORS),
            ),
            minimum=0,
            width=14,
            height=6,
        ),
    )


def slo_dashboard(objectives: Sequence[slo_spec.Objective]) -> dict[str, Any]:
    """The SLO dashboard for ``objectives`` (one row each, in the order given)."""
    board = Board(
        UID,
        "Media Gateway / SLOs and error budgets",
        f"For every objective in load/slo.yaml: the SLI over {PERIOD}, the error budget left "
        f"and the burn rate over {' and '.join(BURN_WINDOWS)}.",
        "prometheus",
        tags=("slo",),
        time_from="now-7d",
        refresh="1m",
    )
    for objective in objectives:
        _add_objective(board, objective)
    return board.model()


def dashboard() -> dict[str, Any]:
    return slo_dashboard(slo_spec.load().objectives)
