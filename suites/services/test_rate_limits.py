"""Rate limits: the auth endpoints through a stack with low limits, and the limiter itself.

Each stack gets a Redis DB of its own (``redis_db``), so no other stack's hits share its
sliding windows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from harness.accounts import expect, register_verified, unique_email
from harness.backends import Backend
from harness.isolation import RedisDatabase
from harness.stack import Stack, launch
from mediagw.common.errors import ApiError
from mediagw.common.ratelimit import Limit, RateLimiter

pytestmark = pytest.mark.integration

LIMIT = 3
WINDOW = 60
LOW_LIMITS = {
    "MG_RATE_LIMIT_LOGIN": f"{LIMIT}/{WINDOW}",
    "MG_RATE_LIMIT_REGISTER": f"{LIMIT}/{WINDOW}",
    "MG_RATE_LIMIT_PASSWORD_RESET": f"{LIMIT}/{WINDOW}",
}
PASSWORD = "long enough pw 1"


@pytest.fixture
def limited_stack(
    postgres_backend: Backend, redis_backend: Backend, redis_db: RedisDatabase
) -> Iterator[Stack]:
    with launch(
        backends={"postgres": postgres_backend, "redis": redis_backend},
        extra_env={**LOW_LIMITS, "MG_REDIS_URL": redis_db.url},
        create_admin=False,  # registering the admin would spend one of the few registrations
    ) as stack:
        yield stack


@pytest.fixture
def limited(limited_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited_stack.base_url, timeout=15) as client:
        yield client


def assert_rate_limited(response: httpx.Response, route: str) -> int:
    """The response is a 429 in the shared error shape; returns its Retry-After."""
    assert response.status_code == 429, response.text[:500]
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("rate_limited", None)
    assert route in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), f"Retry-After must be whole seconds, got {retry_after!r}"
    seconds = int(retry_after)
    assert 1 <= seconds <= WINDOW
    assert f"retry in {seconds} s" in error["message"]
    return seconds


def test_fourth_login_in_the_window_is_429_even_with_the_right_password(
    limited: httpx.Client, limited_stack: Stack
) -> None:
    assert limited_stack.mailbox is not None
    account = register_verified(limited, limited_stack.mailbox)
    wrong = {"email": account.email, "password": "not the password 1"}
    for _ in range(LIMIT):
        assert limited.post("/api/v1/auth/login", json=wrong).status_code == 401
    right = {"email": account.email, "password": account.password}
    retry_after = assert_rate_limited(limited.post("/api/v1/auth/login", json=right), "login")
    assert retry_after >= WINDOW - 5, "the window started with the first attempt, moments ago"
    assert_rate_limited(limited.post("/api/v1/auth/login", json=wrong), "login")
    # The key is the address *and* the e-mail: someone else's login is not affected…
    other = {"email": unique_email(), "password": PASSWORD}
    assert limited.post("/api/v1/auth/login", json=other).status_code == 401
    # …and the same e-mail in another case is the same account, so still limited.
    shouted = {"email": account.email.upper(), "password": account.password}
    assert_rate_limited(limited.post("/api/v1/auth/login", json=shouted), "login")


def test_refused_login_bodies_do_not_use_up_the_limit(limited: httpx.Client) -> None:
    email = unique_email()
    for _ in range(LIMIT + 2):
        invalid = limited.post("/api/v1/auth/login", json={"email": email, "password": ""})
        assert invalid.status_code == 422
    for _ in range(LIMIT):
        attempt = limited.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert attempt.status_code == 401
    denied = limited.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_rate_limited(denied, "login")


def test_fourth_registration_from_one_address_is_429(
    limited: httpx.Client, limited_stack: Stack
) -> None:
    assert limited_stack.mailbox is not None
    registered = []
    for _ in range(LIMIT):
        email = unique_email("reg")
        expect(
            limited.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}), 202
        )
        registered.append(email)
    blocked = unique_email("blocked")
    response = limited.post("/api/v1/auth/register", json={"email": blocked, "password": PASSWORD})
    assert_rate_limited(response, "register")
    # Registration is limited per address, whatever the e-mail.
    other = limited.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": PASSWORD}
    )
    assert_rate_limited(other, "register")
    for email in registered:
        limited_stack.mailbox.wait_for(email, "verify_email")
    assert limited_stack.mailbox.messages(to=blocked) == []


def test_fourth_password_reset_request_for_an_address_is_429(
    limited: httpx.Client, limited_stack: Stack
) -> None:
    assert limited_stack.mailbox is not None
    account = register_verified(limited, limited_stack.mailbox)
    for _ in range(LIMIT):
        forgot = limited.post("/api/v1/auth/password/forgot", json={"email": account.email})
        expect(forgot, 202)
    response = limited.post("/api/v1/auth/password/forgot", json={"email": account.email})
    assert_rate_limited(response, "password_reset")
    assert len(limited_stack.mailbox.messages(to=account.email, kind="password_reset")) == LIMIT
    # Another address is not affected, and an unknown one looks the same as a known one.
    expect(limited.post("/api/v1/auth/password/forgot", json={"email": unique_email()}), 202)


# --- Under load from many users ---------------------------------------------------------------

USERS = 30
ATTEMPTS_EACH = 8
CONCURRENCY = 48


@pytest.fixture
def crowded_stack(
    postgres_backend: Backend, redis_backend: Backend, redis_db: RedisDatabase
) -> Iterator[Stack]:
    """Low login limits, and each client's address taken from X-Forwarded-For, so one test
    process can be many users at many addresses (the trust a stack behind a proxy gives)."""
    with launch(
        backends={"postgres": postgres_backend, "redis": redis_backend},
        extra_env={**LOW_LIMITS, "MG_REDIS_URL": redis_db.url, "MG_TRUST_FORWARDED_FOR": "1"},
        create_admin=False,
    ) as stack:
        yield stack


def test_limits_hold_for_each_of_many_users_hammering_at_once(crowded_stack: Stack) -> None:
    """30 users at 30 addresses each try 8 logins, 48 requests in flight at a time: every
    user gets exactly LIMIT answers and the rest 429 — the limit neither leaks under
    concurrency nor lets one user's attempts use up another's."""

    async def attempt(client: httpx.AsyncClient, user: int, gate: asyncio.Semaphore) -> int:
        body = {"email": f"crowd-{user}@example.org", "password": PASSWORD}
        headers = {"X-Forwarded-For": f"198.51.100.{user + 1}"}
        async with gate:
            response = await client.post("/api/v1/auth/login", json=body, headers=headers)
        if response.status_code == 429:
            assert_rate_limited(response, "login")
        return response.status_code

    async def crowd() -> dict[int, list[int]]:
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=crowded_stack.base_url, timeout=60, limits=limits
        ) as client:
            tasks = {
                (user, n): asyncio.create_task(attempt(client, user, gate))
                for n in range(ATTEMPTS_EACH)
                for user in range(USERS)
            }
            await asyncio.gather(*tasks.values())
        by_user: dict[int, list[int]] = {user: [] for user in range(USERS)}
        for (user, _), task in tasks.items():
            by_user[user].append(task.result())
        return by_user

    by_user = asyncio.run(crowd())
    for user, statuses in by_user.items():
        assert sorted(statuses) == [401] * LIMIT + [429] * (ATTEMPTS_EACH - LIMIT), (user, statuses)


def test_one_attacker_at_full_speed_gets_the_limit_and_no_more(crowded_stack: Stack) -> None:
    """60 concurrent guesses at one account from one address: LIMIT of them are checked, every
    other one is refused before the password is looked at, and the account's owner, at her
    own address, still signs in."""
    assert crowded_stack.mailbox is not None
    with httpx.Client(base_url=crowded_stack.base_url, timeout=60) as plain:
        owner = register_verified(plain, crowded_stack.mailbox)

    async def guess(client: httpx.AsyncClient) -> int:
        body = {"email": owner.email, "password": "guess number one"}
        headers = {"X-Forwarded-For": "203.0.113.66"}
        response = await client.post("/api/v1/auth/login", json=body, headers=headers)
        return response.status_code

    async def attack() -> list[int]:
        async with httpx.AsyncClient(
            base_url=crowded_stack.base_url, timeout=60, limits=httpx.Limits(max_connections=60)
        ) as client:
            return list(await asyncio.gather(*(guess(client) for _ in range(60))))

    statuses = asyncio.run(attack())
    assert sorted(statuses) == [401] * LIMIT + [429] * (60 - LIMIT)
    with httpx.Client(base_url=crowded_stack.base_url, timeout=30) as plain:
        mine = {"email": owner.email, "password": owner.password}
        signed_in = plain.post(
            "/api/v1/auth/login", json=mine, headers={"X-Forwarded-For": "192.0.2.7"}
        )
    assert signed_in.status_code == 200, signed_in.text


# --- The limiter against real Redis ---------------------------------------------------------


def run_with_limiter(
    redis_db: RedisDatabase, body: Callable[[RateLimiter, Redis], Awaitable[None]]
) -> None:
    """Run ``body`` on a fresh event loop with a limiter on the test's own Redis DB."""

    async def main() -> None:
        redis = Redis.from_url(redis_db.url, decode_responses=True)
        try:
            await body(RateLimiter(redis), redis)
        finally:
            await redis.aclose()

    asyncio.run(main())


async def hit_ok(limiter: RateLimiter, client: str, limit: Limit, route: str = "test") -> bool:
    try:
        await limiter.hit(route, client, limit)
    except ApiError as error:
        refused = (error.status, error.code)
    else:
        return True
    assert refused == (429, "rate_limited")
    return False


def test_limiter_window_slides(redis_db: RedisDatabase) -> None:
    limit = Limit(2, 1)

    async def body(limiter: RateLimiter, redis: Redis) -> None:
        client = f"{redis_db.namespace}slide"
        first = time.monotonic()
        assert await hit_ok(limiter, client, limit)
        await asyncio.sleep(0.5)
        assert await hit_ok(limiter, client, limit)
        assert not await hit_ok(limiter, client, limit), "two hits fill the 1-second window"
        # Past the first hit's second, only it has left the window: one hit fits, not two.
        await asyncio.sleep(max(0.0, first + 1.05 - time.monotonic()))
        assert await hit_ok(limiter, client, limit)
        assert not await hit_ok(limiter, client, limit), "a fixed window would allow this one"
        # Refused hits are not recorded: the window holds exactly the two accepted ones.
        assert await redis.zcard(f"ratelimit:test:{client}") == 2
        pttl = await redis.pttl(f"ratelimit:test:{client}")
        assert 0 < pttl <= 1000, "the key expires with its window"

    run_with_limiter(redis_db, body)


def test_limiter_retry_after_is_bounded_by_the_window(redis_db: RedisDatabase) -> None:
    async def body(limiter: RateLimiter, _: Redis) -> None:
        for window in (1, 30, 300):
            limit = Limit(1, window)
            client = f"{redis_db.namespace}bounds-{window}"
            assert await hit_ok(limiter, client, limit)
            with pytest.raises(ApiError) as refused:
                await limiter.hit("test", client, limit)
            retry_after = refused.value.headers["Retry-After"]
            assert retry_after.isdigit()
            assert max(1, window - 1) <= int(retry_after) <= window
            assert refused.value.status == 429

        # Later in the window, the wait is shorter, never below one second.
        limit = Limit(1, 2)
        client = f"{redis_db.namespace}later"
        assert await hit_ok(limiter, client, limit)
        await asyncio.sleep(1.2)
        with pytest.raises(ApiError) as refused:
            await limiter.hit("test", client, limit)
        assert refused.value.headers["Retry-After"] == "1"
        await asyncio.sleep(0.9)
        assert await hit_ok(limiter, client, limit), "after Retry-After the hit is allowed"

    run_with_limiter(redis_db, body)


def test_limiter_keys_are_per_route_and_client(redis_db: RedisDatabase) -> None:
    limit = Limit(1, 60)

    async def body(limiter: RateLimiter, _: Redis) -> None:
        ns = redis_db.namespace
        assert await hit_ok(limiter, f"{ns}a", limit, "login")
        assert not await hit_ok(limiter, f"{ns}a", limit, "login")
        assert await hit_ok(limiter, f"{ns}b", limit, "login")
        assert await hit_ok(limiter, f"{ns}a", limit, "register")

    run_with_limiter(redis_db, body)


def test_limiter_is_atomic_under_concurrency(redis_db: RedisDatabase) -> None:
    limit = Limit(5, 60)

    async def body(limiter: RateLimiter, redis: Redis) -> None:
        client = f"{redis_db.namespace}burst"
        results = await asyncio.gather(*(hit_ok(limiter, client, limit) for _ in range(40)))
        assert sum(results) == 5
        assert await redis.zcard(f"ratelimit:test:{client}") == 5

    run_with_limiter(redis_db, body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10/60", Limit(10, 60)), ("3/1", Limit(3, 1)), ("5", Limit(5, 60))],
)
def test_limit_parse(text: str, expected: Limit) -> None:
    assert Limit.parse(text) == expected
