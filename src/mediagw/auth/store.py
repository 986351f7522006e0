"""SQL for the auth schema, one small class per aggregate. Every function takes a connection
so callers decide the transaction boundaries."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

Conn = AsyncConnection[DictRow]


class Users:
    @staticmethod
    async def by_email(conn: Conn, email: str) -> DictRow | None:
        cursor = await conn.execute(
            """SELECT u.*, c.password_hash, m.enabled_at AS mfa_enabled_at
                 FROM auth.users u
                 LEFT JOIN auth.credentials c ON c.user_id = u.id
                 LEFT JOIN auth.mfa_secrets m ON m.user_id = u.id
                WHERE lower(u.email) = lower(%s)""",
            (email,),
        )
        return await cursor.fetchone()

    @staticmethod
    async def by_id(conn: Conn, user_id: str) -> DictRow | None:
        cursor = await conn.execute(
            """SELECT u.*, m.enabled_at AS mfa_enabled_at
                 FROM auth.users u LEFT JOIN auth.mfa_secrets m ON m.user_id = u.id
                WHERE u.id = %s""",
            (user_id,),
        )
        return await cursor.fetchone()

    @staticmethod
    async def create(conn: Conn, email: str, display_name: str | None, password_hash: str) -> str:
        cursor = await conn.execute(
            "INSERT INTO auth.users (email, display_name) VALUES (%s, %s) RETURNING id",
            (email, display_name),
        )
        row = await cursor.fetchone()
        assert row is not None
        user_id = str(row["id"])
        await conn.execute(
            "INSERT INTO auth.credentials (user_id, password_hash) VALUES (%s, %s)",
            (user_id, password_hash),
        )
        return user_id

    @staticmethod
    async def mark_verified(conn: Conn, user_id: str, admin: bool) -> None:
        await conn.execute(
            """UPDATE auth.users
                  SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now(),
                      roles = CASE WHEN %s THEN ARRAY['admin'] ELSE roles END
                WHERE id = %s""",
            (admin, user_id),
        )

    @staticmethod
    async def set_password(conn: Conn, user_id: str, password_hash: str) -> None:
        await conn.execute(
            "UPDATE auth.credentials SET password_hash = %s, updated_at = now() WHERE user_id = %s",
            (password_hash, user_id),
        )


class OneTimeTokens:
    """E-mail verification and password-reset tokens: stored hashed, single use, expiring."""

    def __init__(self, table: str) -> None:
        assert table in {"email_verifications", "password_resets"}
        self.table = table

    async def create(
        self, conn: Conn, token_hash: str, user_id: str, ttl: int, **extra: str
    ) -> None:
        columns = ["token_hash", "user_id", "expires_at", *extra]
        values = [token_hash, user_id, ttl, *extra.values()]
        placeholders = ["%s", "%s", "now() + make_interval(secs => %s)"] + ["%s"] * len(extra)
        await conn.execute(
            f"INSERT INTO auth.{self.table} ({', '.join(columns)}) "  # noqa: S608 — table and column names are constants of this module
            f"VALUES ({', '.join(placeholders)})",
            values,
        )

    async def consume(self, conn: Conn, token_hash: str) -> DictRow | None:
        """Mark the token used and return its row, if it exists, is unused and unexpired."""
        cursor = await conn.execute(
            f"UPDATE auth.{self.table} SET used_at = now() "  # noqa: S608 — constant table name
            "WHERE token_hash = %s AND used_at IS NULL AND expires_at > now() RETURNING *",
            (token_hash,),
        )
        return await cursor.fetchone()

    async def retire_all(self, conn: Conn, user_id: str) -> None:
        """Mark every outstanding token of the user used (e.g. the other reset links)."""
        await conn.execute(
            f"UPDATE auth.{self.table} SET used_at = now() "  # noqa: S608 — constant table name
            "WHERE user_id = %s AND used_at IS NULL",
            (user_id,),
        )


EMAIL_VERIFICATIONS = OneTimeTokens("email_verifications")
PASSWORD_RESETS = OneTimeTokens("password_resets")


async def audit(
    conn: Conn,
    event: str,
    user_id: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
    **detail: Any,
) -> None:
    await conn.execute(
        "INSERT INTO auth.audit_log (user_id, event, detail, ip, user_agent) "
        "VALUES (%s, %s, %s::jsonb, %s, %s)",
        (user_id, event, json.dumps(detail, default=str), ip, (user_agent or "")[:500] or None),
    )


class AuthorizationCodes:
    """Single-use PKCE codes, and what each started, so a second use of a code can undo that
    (RFC 6749 §4.1.2)."""

    @staticmethod
    async def insert(
        conn: Conn,
        code_hash: str,
        client_id: str,
        user_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str,
        ttl_seconds: float,
    ) -> None:
        await conn.execute(
            """INSERT INTO auth.authorization_codes
                   (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
            (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, ttl_seconds),
        )

    @staticmethod
    async def consume(conn: Conn, code_hash: str) -> DictRow | None:
        """Mark a live, unused code used and return it; None for any other code. Consumed
        before any other check, so a wrong verifier still burns it."""
        cursor = await conn.execute(
            """UPDATE auth.authorization_codes SET used_at = now()
                WHERE code_hash = %s AND used_at IS NULL AND expires_at > now()
            RETURNING *""",
            (code_hash,),
        )
        return await cursor.fetchone()

    @staticmethod
    async def link_family(conn: Conn, code_hash: str, family_id: str) -> None:
        await conn.execute(
            "UPDATE auth.authorization_codes SET family_id = %s WHERE code_hash = %s",
            (family_id, code_hash),
        )

    @staticmethod
    async def started_family(conn: Conn, code_hash: str) -> DictRow | None:
        """The family (and user) a used code started, locked; None for an unused or unknown
        code, or one whose family is already revoked."""
        cursor = await conn.execute(
            """SELECT c.family_id, c.user_id
                 FROM auth.authorization_codes c
                 JOIN auth.refresh_token_families f ON f.id = c.family_id
                WHERE c.code_hash = %s AND c.used_at IS NOT NULL AND f.revoked_at IS NULL
                  FOR UPDATE OF f""",
            (code_hash,),
        )
        return await cursor.fetchone()


class DeviceCodes:
    """The device authorization grant's codes (RFC 8628)."""

    @staticmethod
    async def insert(
        conn: Conn,
        code_hash: str,
        user_code: str,
        client_id: str,
        scope: str,
        interval_seconds: int,
        ttl_seconds: float,
    ) -> None:
        await conn.execute(
            """INSERT INTO auth.device_codes
                   (device_code_hash, user_code, client_id, scope, interval_seconds, expires_at)
               VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
            (code_hash, user_code, client_id, scope, interval_seconds, ttl_seconds),
        )

    @staticmethod
    async def decide(
        conn: Conn, user_code: str, status: str, user_id: str, approve: bool
    ) -> DictRow | None:
        """Approve or deny a pending, live code; its ``client_id``, or None."""
        cursor = await conn.execute(
            """UPDATE auth.device_codes
                  SET status = %s, user_id = %s,
                      approved_at = CASE WHEN %s THEN now() END
                WHERE user_code = %s AND status = 'pending' AND expires_at > now()
            RETURNING client_id""",
            (status, user_id, approve, user_code),
        )
        return await cursor.fetchone()

    @staticmethod
    async def lock(conn: Conn, code_hash: str) -> DictRow | None:
        """The code, locked for this poll, with ``expired`` and ``too_fast`` computed."""
        cursor = await conn.execute(
            """SELECT *, (expires_at <= now()) AS expired,
                      (last_polled_at IS NOT NULL AND
                       last_polled_at > now() - make_interval(secs => interval_seconds)) AS too_fast
                 FROM auth.device_codes WHERE device_code_hash = %s FOR UPDATE""",
            (code_hash,),
        )
        return await cursor.fetchone()

    @staticmethod
    async def polled(conn: Conn, code_hash: str, *, slow_down: bool) -> None:
        """Record a poll; a client polling too fast waits 5 s longer from now on (≤ 60 s)."""
        await conn.execute(
            """UPDATE auth.device_codes SET last_polled_at = now(), interval_seconds =
                      least(60, interval_seconds + CASE WHEN %s THEN 5 ELSE 0 END)
                WHERE device_code_hash = %s""",
            (slow_down, code_hash),
        )

    @staticmethod
    async def mark_used(conn: Conn, code_hash: str) -> None:
        await conn.execute(
            "UPDATE auth.device_codes SET used_at = now() WHERE device_code_hash = %s",
            (code_hash,),
        )


class Clients:
    @staticmethod
    async def get(conn: Conn, client_id: str) -> DictRow | None:
        cursor = await conn.execute(
            "SELECT * FROM auth.oauth_clients WHERE client_id = %s", (client_id,)
        )
        return await cursor.fetchone()

    @staticmethod
    async def create(conn: Conn, **fields: Any) -> None:
        columns = ", ".join(fields)
        placeholders = ", ".join(["%s"] * len(fields))
        await conn.execute(
            f"INSERT INTO auth.oauth_clients ({columns}) VALUES ({placeholders})",  # noqa: S608 — keys come from our code, values are parameters
            list(fields.values()),
        )


class RefreshTokens:
    @staticmethod
    async def create_family(
        conn: Conn, user_id: str, client_id: str | None, device_id: str | None
    ) -> str:
        """The family's id is made here, not by the database, so nothing waits for a reply:
        in a pipeline (a login's) the family, its first token and its session go out at once."""
        family_id = str(uuid.uuid4())
        await conn.execute(
            "INSERT INTO auth.refresh_token_families (id, user_id, client_id, device_id) "
            "VALUES (%s, %s, %s, %s)",
            (family_id, user_id, client_id, device_id),
        )
        return family_id

    @staticmethod
    async def insert(
        conn: Conn,
        token_hash: str,
        family_id: str,
        user_id: str,
        scope: str,
        ttl: int,
        parent_hash: str | None = None,
    ) -> None:
        await conn.execute(
            """INSERT INTO auth.refresh_tokens
                   (token_hash, family_id, parent_hash, user_id, scope, expires_at)
               VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
            (token_hash, family_id, parent_hash, user_id, scope, ttl),
        )

    @staticmethod
    async def rotate(
        conn: Conn, token_hash: str, child_hash: str, client_id: str | None, ttl: int
    ) -> DictRow | None:
        """Lock the presented token and, if it may be rotated, mark it used and insert its
        child — in one statement, so one round trip and one implicit transaction.

        Returns the token with its family's state and its user's status, as they were before
        this statement, plus ``rotated``: whether the child was inserted. A token that may not
        be rotated (unknown, used, revoked, expired, its user inactive, bound to another client)
        is left as it was, and the caller reads why from the row. A concurrent rotation of the
        same token waits on the row lock, then sees it used: exactly one of them rotates.
        """
        cursor = await conn.execute(
            """WITH presented AS (
                   SELECT t.*, f.revoked_at AS family_revoked_at, f.client_id, f.device_id,
                          (t.expires_at <= now()) AS expired, u.status AS user_status
                     FROM auth.refresh_tokens t
                     JOIN auth.refresh_token_families f ON f.id = t.family_id
                     JOIN auth.users u ON u.id = t.user_id
                    WHERE t.token_hash = %(presented)s
                      FOR UPDATE OF t
               ), rotated AS (
                   UPDATE auth.refresh_tokens t SET rotated_at = now()
                     FROM presented p
                    WHERE t.token_hash = p.token_hash
                      AND p.rotated_at IS NULL AND p.revoked_at IS NULL
                      AND p.family_revoked_at IS NULL AND NOT p.expired
                      AND p.user_status = 'active'
                      AND (p.client_id IS NULL OR p.client_id = %(client_id)s)
                RETURNING t.token_hash
               ), child AS (
                   INSERT INTO auth.refresh_tokens
                          (token_hash, family_id, parent_hash, user_id, scope, expires_at)
                   SELECT %(child)s, p.family_id, p.token_hash, p.user_id, p.scope,
                          now() + make_interval(secs => %(ttl)s)
                     FROM presented p JOIN rotated r ON r.token_hash = p.token_hash
                RETURNING token_hash
               )
               SELECT p.*, EXISTS (SELECT 1 FROM child) AS rotated FROM presented p""",
            {"presented": token_hash, "child": child_hash, "client_id": client_id, "ttl": ttl},
        )
        return await cursor.fetchone()

    @staticmethod
    async def revoke_family(conn: Conn, family_id: str, reason: str) -> None:
        await conn.execute(
            """UPDATE auth.refresh_token_families
                  SET revoked_at = coalesce(revoked_at, now()),
                      revoked_reason = coalesce(revoked_reason, %s)
                WHERE id = %s""",
            (reason, family_id),
        )
        await conn.execute(
            "UPDATE auth.refresh_tokens SET revoked_at = now() "
            "WHERE family_id = %s AND revoked_at IS NULL",
            (family_id,),
        )
        await conn.execute(
            """UPDATE auth.sessions SET revoked_at = coalesce(revoked_at, now()),
                      revoked_reason = coalesce(revoked_reason, %s)
                WHERE family_id = %s""",
            (reason, family_id),
        )

    @staticmethod
    async def live_families(conn: Conn, user_id: str) -> list[str]:
        cursor = await conn.execute(
            "SELECT id FROM auth.refresh_token_families WHERE user_id = %s AND revoked_at IS NULL",
            (user_id,),
        )
        return [str(row["id"]) for row in await cursor.fetchall()]

    @staticmethod
    async def family_owner(conn: Conn, family_id: str) -> str | None:
        cursor = await conn.execute(
            "SELECT user_id FROM auth.refresh_token_families WHERE id = %s AND revoked_at IS NULL",
            (family_id,),
        )
        row = await cursor.fetchone()
        return str(row["user_id"]) if row else None


async def record_session(
    conn: Conn,
    session_id: str,
    user_id: str,
    device_id: str | None,
    device_name: str | None,
    ip: str | None,
    user_agent: str | None,
    ttl: int,
) -> None:
    await conn.execute(
        """INSERT INTO auth.sessions
               (id, user_id, family_id, device_id, device_name, ip, user_agent, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
        (session_id, user_id, session_id, device_id, device_name, ip, user_agent, ttl),
    )


def as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
