"""Prometheus metrics of the auth service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LOGINS = Counter("auth_logins_total", "Login attempts by result", ["result"])

REFRESHES = Counter("auth_token_refreshes_total", "Refresh-token grants by result", ["result"])

REUSE_DETECTED = Counter(
    "auth_refresh_token_reuse_detected_total",
    "Rotated refresh tokens presented again (each revokes a whole token family)",
)

FAMILIES_REVOKED = Counter("auth_token_families_revoked_total", "Families revoked", ["reason"])

TOKENS_ISSUED = Counter("auth_tokens_issued_total", "Access tokens issued by grant", ["grant"])

HASH_SECONDS = Histogram(
    "auth_password_hash_seconds",
    "Time to hash or verify a password (argon2id)",
    ["operation"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0),
)
