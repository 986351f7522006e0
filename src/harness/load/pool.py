"""Test users prepared before the measured window: accounts, tokens, titles, second devices.

Preparation talks to the target with its own HTTP client, so none of it is counted in the
results. Accounts are registered and confirmed through the stack's mailbox
(``MG_TARGET_MAILBOX``, which ``mgh stack up`` prints), or read from a JSON file of existing
accounts (``--accounts``: ``[{"email": …, "password": …}]``) for a deployment without one.
Locust users share the pool round robin; each account serialises its own token refresh
(refresh tokens rotate: two concurrent refreshes of one family would look like a replay).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from harness.accounts import Account, login, register_verified
from harness.mailbox import Mailbox

QUERIES = (
    "funny sci-fi from the 90s", "space adventure", "crime drama", "family animation",
    "romantic comedy", "dark thriller on netflix", "documentary about nature", "western",
    "horror from the 80s", "feel-good movie", "war film", "mystery series", "fantasy epic",
    "musical", "historical drama on max", "action movie from 2010", "animated series",
    "detective", "heist", "coming of age",
)  # fmt: skip
"""Natural-language searches, the way people type them."""
REFRESH_MARGIN_SECONDS = 60
PREPARE_THREADS = 4
T = TypeVar("T")


class PoolError(RuntimeError):
    """The pool could not be prepared; the message says what is missing."""


@dataclass
class LoadAccount:
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    playback_session: str | None = None
    position: int = 0
    heartbeats: int = 0
    watchlist: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def remember(self, tokens: dict[str, Any], now: float) -> None:
        self.access_token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])
        self.expires_at = now + float(tokens.get("expires_in", 300))

    def needs_refresh(self, now: float) -> bool:
        return now >= self.expires_at - REFRESH_MARGIN_SECONDS


@dataclass
class Pool:
    accounts: list[LoadAccount]
    titles: list[str]
    _next: Iterator[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = iter(range(10**12))

    def account(self) -> LoadAccount:
        return self.accounts[next(self._next) % len(self.accounts)]

    def title(self, rng: random.Random) -> str:
        return rng.choice(self.titles)

    def to_json(self) -> dict[str, Any]:
        """For the master to hand the pool to its workers (Locust messages carry plain data)."""
        return {
            "titles": self.titles,
            "accounts": [
                {
                    "email": a.email,
                    "password": a.password,
                    "access_token": a.access_token,
                    "refresh_token": a.refresh_token,
                    "expires_at": a.expires_at,
                }
                for a in self.accounts
            ],
        }

    @classmethod
    def share(cls, data: dict[str, Any], index: int, count: int) -> Pool:
        """Worker ``index`` of ``count``: its own slice of the accounts (refresh tokens rotate,
        so two processes must never refresh one account) and every title."""
        entries = data["accounts"][index::count] or data["accounts"][:1]
        accounts = []
        for entry in entries:
            account = LoadAccount(entry["email"], entry["password"])
            account.access_token, account.refresh_token = (
                entry["access_token"],
                entry["refresh_token"],
            )
            account.expires_at = float(entry["expires_at"])
            accounts.append(account)
        return cls(accounts, list(data["titles"]))


def _signed_in(client: httpx.Client, account: Account, now: float) -> LoadAccount:
    signed = login(client, account, device_id="load-phone")
    loaded = LoadAccount(signed.email, signed.password)
    loaded.access_token, loaded.refresh_token = signed.access_token, signed.refresh_token
    # The token's own lifetime: a deployment with short-lived tokens is refreshed in time.
    loaded.expires_at = now + (signed.expires_in or 300)
    return loaded


def titles_of(client: httpx.Client, wanted: int = 200) -> list[str]:
    """Content ids of the target's catalogue, found the way a user finds them (search)."""
    found: list[str] = []
    for query in QUERIES:
        response = client.get("/api/v1/search", params={"q": query, "page_size": 50})
        if response.status_code == 200:
            found += [item["id"] for item in response.json()["items"]]
        if len(set(found)) >= wanted:
            break
    titles = sorted(set(found))
    if not titles:
        raise PoolError("the target's search found no titles: is the catalogue ingested?")
    return titles


def _in_parallel(work: Callable[[T], LoadAccount], inputs: list[T]) -> list[LoadAccount]:
    """A few accounts at a time: each one mostly waits (for its e-mail, for the password hash
    on the server), so the pool is ready sooner; the order of ``inputs`` is kept."""
    with ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="pool") as threads:
        return list(threads.map(work, inputs))


def prepare(
    base_url: str,
    size: int,
    *,
    mailbox_dir: str | None = None,
    accounts_file: str | None = None,
    tag: str = "load",
) -> Pool:
    """Sign in ``size`` accounts (registering them through the mailbox when no file is given)
    and collect titles to play, open and put on watchlists."""
    if not mailbox_dir and not accounts_file:
        raise PoolError(
            "test users need the stack's mailbox (MG_TARGET_MAILBOX, printed by `mgh stack up`)"
            " or --accounts FILE with existing accounts"
        )
    with httpx.Client(base_url=base_url, timeout=30) as client:
        now = time.time()
        accounts: list[LoadAccount] = []
        if accounts_file:
            try:
                entries = json.loads(Path(accounts_file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise PoolError(f"--accounts {accounts_file}: {exc}") from None
            given = [Account(entry["email"], entry["password"]) for entry in entries[:size]]
            accounts = _in_parallel(lambda account: _signed_in(client, account, now), given)
        else:
            assert mailbox_dir is not None
            mailbox = Mailbox(Path(mailbox_dir))

            def registered(index: int) -> LoadAccount:
                email = f"{tag}-{index}-{random.getrandbits(40):010x}@load.example.test"
                return _signed_in(client, register_verified(client, mailbox, email), now)

            accounts = _in_parallel(registered, list(range(size)))
        if not accounts:
            raise PoolError("no test account could be prepared")
        return Pool(accounts, titles_of(client))
