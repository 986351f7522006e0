"""The auth service's dashboard: RED, pool, and logins, refreshes, reuse detections, hashing.

A refresh-token reuse detection means a rotated token was presented again, the signature of a
stolen token; its family is revoked, so detections and revocations move together.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, graph
from harness.obs.dashboards.red import service_board


def dashboard() -> dict[str, Any]:
    board = service_board(
        "auth",
        "Accounts and tokens: request rate, errors and latency by route, database pool, and "
        "the authentication outcomes behind them.",
    )
    board.row("Logins and tokens")
    board.add(
        graph(
            "Logins by result",
            "Login attempts per second by outcome (ok, invalid_credentials, unverified, "
            "mfa_required).",
            "ops",
            Prom(promql.rate("auth_logins_total", by="result"), "{{result}}"),
            stacked=True,
        ),
        graph(
            "Token refreshes by result",
            "Refresh-token grants per second by outcome (rotated, expired, revoked, reuse, "
            "wrong_client, unknown).",
            "ops",
            Prom(promql.rate("auth_token_refreshes_total", by="result"), "{{result}}"),
            stacked=True,
        ),
        graph(
            "Refresh-token reuse detections and family revocations",
            "Reuse detections per second (a rotated refresh token presented again) and token "
            "families revoked per second, by reason.",
            "ops",
            Prom(promql.rate("auth_refresh_token_reuse_detected_total"), "reuse detected"),
            Prom(
                promql.rate("auth_token_families_revoked_total", by="reason"),
                "revoked: {{reason}}",
            ),
        ),
        graph(
            "Access tokens issued by grant",
            "Access tokens issued per second by OAuth grant type.",
            "ops",
            Prom(promql.rate("auth_tokens_issued_total", by="grant"), "{{grant}}"),
            stacked=True,
        ),
        graph(
            "Password hashing time",
            "p50 and p95 time spent hashing or verifying a password, by operation: the main "
            "CPU cost of a login.",
            "s",
            Prom(
                promql.quantile(0.5, "auth_password_hash_seconds", by="operation"),
                "p50 {{operation}}",
            ),
            Prom(
                promql.quantile(0.95, "auth_password_hash_seconds", by="operation"),
                "p95 {{operation}}",
            ),
            width=24,
        ),
    )
    return board.model()
