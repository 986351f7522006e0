"""The refresh-token rotation statement against a real PostgreSQL database.

``RefreshTokens.rotate`` decides in SQL whether a presented token may be rotated; the issuer
(``tests/mediagw/test_auth_issuer.py``) only names the reason when it was not. Here each state a
token can be in is built in a migrated database and presented once: the statement must rotate
exactly the tokens the issuer's checks accept, leave every other one as it was, and let only
one of two concurrent presentations of the same token through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from harness.isolation import IsolatedDatabase
from mediagw.auth.store import Clients, Conn, RefreshTokens

pytestmark = pytest.mark.integration

TTL = 3600
CLIENT = "tv-app"


async def _connect(database: IsolatedDatabase) -> Conn:
    return await psycopg.AsyncConnection.connect(
        database.url, autocommit=True, row_factory=dict_row
    )


async def _token(conn: Conn, user_id: str, name: str, *, client_id: str | None = None) -> str:
    """A fresh family with one live token called ``name``; returns the family id."""
    family_id = await RefreshTokens.create_family(conn, user_id, client_id, "tv")
    await RefreshTokens.insert(conn, name, family_id, user_id, "read write", TTL)
    return family_id


async def _children(conn: Conn, parent: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT * FROM auth.refresh_tokens WHERE parent_hash = %s", (parent,)
    )
    return await cursor.fetchall()


async def _rotated_at(conn: Conn, name: str) -> object:
    cursor = await conn.execute(
        "SELECT rotated_at FROM auth.refresh_tokens WHERE token_hash = %s", (name,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return row["rotated_at"]


def test_a_live_token_is_rotated_once_into_a_child_of_the_same_family(
    pg_database: IsolatedDatabase, new_user: Callable[[str], str]
) -> None:
    user_id = new_user("rotate")

    async def scenario() -> None:
        async with await _connect(pg_database) as conn:
            family_id = await _token(conn, user_id, "parent")
            row = await RefreshTokens.rotate(conn, "parent", "child", None, TTL)
            assert row is not None
            assert row["rotated"] is True
            assert row["rotated_at"] is None, "the row is the token as it was presented"
            assert (str(row["family_id"]), row["scope"]) == (family_id, "read write")
            [child] = await _children(conn, "parent")
            assert (child["token_hash"], str(child["family_id"])) == ("child", family_id)
            assert (child["scope"], child["rotated_at"]) == ("read write", None)
            assert await _rotated_at(conn, "parent") is not None
            again = await RefreshTokens.rotate(conn, "parent", "second-child", None, TTL)
            assert again is not None
            assert again["rotated"] is False
            assert again["rotated_at"] is not None, "the issuer reads reuse from this"
            assert [c["token_hash"] for c in await _children(conn, "parent")] == ["child"]

    asyncio.run(scenario())


def test_an_unknown_token_gives_no_row(pg_database: IsolatedDatabase) -> None:
    async def scenario() -> None:
        async with await _connect(pg_database) as conn:
            assert await RefreshTokens.rotate(conn, "nobody", "child", None, TTL) is None
            assert await _children(conn, "nobody") == []

    asyncio.run(scenario())


STATES: dict[str, str] = {
    "token revoked": "UPDATE auth.refresh_tokens SET revoked_at = now() WHERE token_hash = %(t)s",
    "family revoked": "UPDATE auth.refresh_token_families SET revoked_at = now() WHERE id = %(f)s",
    "expired": "UPDATE auth.refresh_tokens SET issued_at = now() - interval '2 seconds', "
    "expires_at = now() - interval '1 second' WHERE token_hash = %(t)s",
    "user disabled": "UPDATE auth.users SET status = 'disabled' WHERE id = %(u)s",
}


@pytest.mark.parametrize("state", list(STATES))
def test_a_token_the_issuer_refuses_is_left_as_it_was(
    pg_database: IsolatedDatabase, new_user: Callable[[str], str], state: str
) -> None:
    user_id = new_user("refused")

    async def scenario() -> None:
        async with await _connect(pg_database) as conn:
            family_id = await _token(conn, user_id, "parent")
            await conn.execute(STATES[state], {"t": "parent", "f": family_id, "u": user_id})
            row = await RefreshTokens.rotate(conn, "parent", "child", None, TTL)
            assert row is not None
            assert row["rotated"] is False
            assert await _children(conn, "parent") == []
            assert await _rotated_at(conn, "parent") is None

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("presented_by", "rotated"), [(None, False), ("other-app", False), (CLIENT, True)]
)
def test_a_token_bound_to_a_client_rotates_only_for_that_client(
    pg_database: IsolatedDatabase,
    new_user: Callable[[str], str],
    presented_by: str | None,
    rotated: bool,
) -> None:
    user_id = new_user("client")

    async def scenario() -> None:
        async with await _connect(pg_database) as conn:
            await Clients.create(
                conn, client_id=CLIENT, name="TV", grant_types=["refresh_token"], is_public=True
            )
            await _token(conn, user_id, "parent", client_id=CLIENT)
            row = await RefreshTokens.rotate(conn, "parent", "child", presented_by, TTL)
            assert row is not None
            assert row["rotated"] is rotated
            assert row["client_id"] == CLIENT
            assert len(await _children(conn, "parent")) == int(rotated)

    asyncio.run(scenario())


def test_an_unbound_token_rotates_whichever_client_presents_it(
    pg_database: IsolatedDatabase, new_user: Callable[[str], str]
) -> None:
    user_id = new_user("unbound")

    async def scenario() -> None:
        async with await _connect(pg_database) as conn:
            await _token(conn, user_id, "parent")
            row = await RefreshTokens.rotate(conn, "parent", "child", "some-app", TTL)
            assert row is not None
            assert row["rotated"] is True

    asyncio.run(scenario())


def test_of_two_concurrent_presentations_exactly_one_rotates(
    pg_database: IsolatedDatabase, new_user: Callable[[str], str]
) -> None:
    """The second waits on the row lock the first holds, then sees the token used: the
    issuer answers it as reuse. Run many times over: the race must never let both through."""
    user_id = new_user("race")

    async def scenario() -> None:
        async with await _connect(pg_database) as first, await _connect(pg_database) as second:
            for round_ in range(25):
                parent = f"parent-{round_}"
                await _token(first, user_id, parent)
                rows = await asyncio.gather(
                    RefreshTokens.rotate(first, parent, f"a-{round_}", None, TTL),
                    RefreshTokens.rotate(second, parent, f"b-{round_}", None, TTL),
                )
                outcomes = sorted(bool(row and row["rotated"]) for row in rows)
                assert outcomes == [False, True], f"round {round_}: {rows}"
                loser = next(row for row in rows if row and not row["rotated"])
                assert loser["rotated_at"] is not None, "the loser sees the token used"
                assert len(await _children(first, parent)) == 1

    asyncio.run(scenario())
