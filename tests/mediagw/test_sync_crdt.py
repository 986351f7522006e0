"""The sync CRDTs: HLC rules, LWW registers, OR-set semantics, convergence under any delivery."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediagw.sync.crdt import HLC, Clock, Op, State, apply, merge, replay
from mediagw.sync.protocol import FrameError, op_from_json, op_to_json, parse_client

pytestmark = pytest.mark.unit
NODES = ("tv", "phone", "web")
KEYS = ("progress/a", "progress/b", "settings/lang")
ELEMENTS = ("c1", "c2", "c3")


def fixed(times: list[int]) -> Clock:
    it = iter(times)
    return Clock("n", wall=lambda: next(it))


# --- HLC -------------------------------------------------------------------------------------


def test_hlc_now_is_monotonic_even_when_the_wall_clock_goes_back() -> None:
    clock = fixed([100, 100, 90, 120])
    stamps = [clock.now() for _ in range(4)]
    assert stamps == [HLC(100, 0, "n"), HLC(100, 1, "n"), HLC(100, 2, "n"), HLC(120, 0, "n")]
    assert stamps == sorted(stamps)


def test_hlc_receive_moves_past_the_remote_and_the_local_clock() -> None:
    clock = fixed([100, 100, 100, 100, 500])
    clock.now()  # (100, 0)
    assert clock.receive(HLC(200, 5, "x")) == HLC(200, 6, "n")  # remote ahead: its logical + 1
    assert clock.receive(HLC(200, 9, "x")) == HLC(200, 10, "n")  # same physical: max + 1
    assert clock.receive(HLC(150, 0, "x")) == HLC(200, 11, "n")  # remote behind: local + 1
    assert clock.receive(HLC(300, 0, "x")) == HLC(500, 0, "n")  # wall ahead of both: reset


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1000), st.integers(0, 50)), max_size=60))
def test_hlc_is_strictly_monotonic_under_any_mix_of_events(
    events: list[tuple[bool, int, int]],
) -> None:
    wall = iter(range(0, 10_000_000, 7))
    clock = Clock("me", wall=lambda: next(wall) // 1000)
    last = clock.now()
    for is_receive, physical, logical in events:
        remote = HLC(physical, logical, "other")
        stamp = clock.receive(remote) if is_receive else clock.now()
        assert stamp > last
        if is_receive:
            assert (stamp.physical, stamp.logical) > (remote.physical, remote.logical)
        last = stamp


def test_hlc_orders_by_physical_then_logical_then_node() -> None:
    assert HLC(1, 9, "z") < HLC(2, 0, "a") < HLC(2, 1, "a") < HLC(2, 1, "b")


# --- LWW -------------------------------------------------------------------------------------


def lww(key: str, value: object, hlc: HLC) -> Op:
    return Op(str(uuid.uuid4()), "lww_set", key, hlc, value=value)


def test_lww_keeps_the_value_with_the_highest_hlc_whatever_the_order() -> None:
    ops = [
        lww("progress/a", 10, HLC(5, 0, "tv")),
        lww("progress/a", 30, HLC(5, 1, "phone")),
        lww("progress/a", 20, HLC(5, 1, "tv")),  # same (p, l): node "tv" > "phone"
    ]
    for order in (ops, ops[::-1], [ops[1], ops[2], ops[0]]):
        assert replay(order).value("progress/a") == 20


def test_lww_none_is_a_tombstone_that_a_later_set_overrides() -> None:
    state = replay([lww("k", 1, HLC(1, 0, "a")), lww("k", None, HLC(2, 0, "a"))])
    assert state.value("k") is None
    assert "k" not in state.snapshot()["registers"]
    apply(state, lww("k", 3, HLC(3, 0, "b")))
    assert state.value("k") == 3


# --- OR-set ----------------------------------------------------------------------------------


def add(element: str, hlc: HLC) -> Op:
    op_id = str(uuid.uuid4())
    return Op(op_id, "or_add", "watchlist", hlc, element=element, tags=(op_id,))


def remove(state: State, element: str, hlc: HLC) -> Op:
    tags = state.observed_tags("watchlist", element)
    return Op(str(uuid.uuid4()), "or_remove", "watchlist", hlc, element=element, tags=tags)


def test_or_set_remove_removes_observed_adds() -> None:
    state = State()
    apply(state, add("c1", HLC(1, 0, "tv")))
    apply(state, add("c1", HLC(2, 0, "phone")))
    apply(state, remove(state, "c1", HLC(3, 0, "tv")))
    assert state.elements("watchlist") == {}


def test_or_set_concurrent_add_wins_over_remove_of_unobserved_tags() -> None:
    tv, phone = State(), State()
    first = add("c1", HLC(1, 0, "tv"))
    apply(tv, first)
    apply(phone, first)
    removal = remove(tv, "c1", HLC(5, 0, "tv"))  # tv saw only the first add
    concurrent = add("c1", HLC(4, 0, "phone"))  # phone re-adds, unseen by tv
    for ops in ([removal, concurrent], [concurrent, removal]):
        state = replay([first, *ops])
        assert state.elements("watchlist") == {"c1": [concurrent.op_id]}


def test_or_set_remove_seen_before_its_add_keeps_the_element_removed() -> None:
    origin = State()
    added = add("c2", HLC(1, 0, "tv"))
    apply(origin, added)
    removal = remove(origin, "c2", HLC(2, 0, "tv"))
    late = replay([removal, added])  # the remove overtook the add on the wire
    assert late.elements("watchlist") == {}
    assert late.snapshot() == replay([added, removal]).snapshot()


# --- convergence -----------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[Op]:
    """Ops made by three replicas that each apply their own ops and sometimes sync."""
    walls = {n: iter(range(0, 1_000_000)) for n in NODES}
    clocks = {n: Clock(n, wall=lambda n=n: next(walls[n]) // draw_speed[n]) for n in NODES}
    draw_speed = {n: draw(st.integers(1, 4)) for n in NODES}
    replicas = {n: State() for n in NODES}
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, 25))):
        node = draw(st.sampled_from(NODES))
        action = draw(st.sampled_from(("set", "set", "add", "remove", "sync")))
        state, clock = replicas[node], clocks[node]
        if action == "sync":
            other = draw(st.sampled_from(NODES))
            for op in ops:
                if draw(st.booleans()):
                    clock.receive(op.hlc)
                    apply(replicas[other], op)
            continue
        if action == "set":
            op = lww(draw(st.sampled_from(KEYS)), draw(st.integers(0, 100)), clock.now())
        elif action == "add":
            op = add(draw(st.sampled_from(ELEMENTS)), clock.now())
        else:
            op = remove(state, draw(st.sampled_from(ELEMENTS)), clock.now())
        apply(state, op)
        ops.append(op)
    return ops


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_any_order_duplication_and_interleaving_converges(
    ops: list[Op], rng: object, replicas: int
) -> None:
    import random  # noqa: PLC0415 — the rng argument is typed object; the module is used here only

    assert isinstance(rng, random.Random)
    expected = replay(ops).snapshot()
    for _ in range(replicas):
        # Every op at least once, some twice.
        delivery = ops + (rng.choices(ops, k=len(ops)) if ops else [])
        rng.shuffle(delivery)
        assert replay(delivery).snapshot() == expected
    # Split between two replicas, each applying its part in its own order, then merged.
    left = [op for op in ops if rng.random() < 0.5]
    right = [op for op in ops if op not in left]
    a, b = replay(reversed(left)), replay(right)
    assert merge(a, b).snapshot() == expected
    assert merge(b, a).snapshot() == expected
    assert merge(a, a).snapshot() == a.snapshot()


@settings(max_examples=100, deadline=None)
@given(histories(), histories(), histories())
def test_merge_is_associative(x: list[Op], y: list[Op], z: list[Op]) -> None:
    a, b, c = replay(x), replay(y), replay(z)
    assert merge(merge(a, b), c).snapshot() == merge(a, merge(b, c)).snapshot()


@settings(max_examples=100, deadline=None)
@given(histories())
def test_apply_is_idempotent(ops: list[Op]) -> None:
    once = replay(ops)
    assert replay(ops, replay(ops)).snapshot() == once.snapshot()


# --- protocol --------------------------------------------------------------------------------


def test_ops_round_trip_through_json() -> None:
    for op in (lww("progress/a", {"pos": 1.5}, HLC(1, 2, "tv")), add("c1", HLC(3, 0, "x"))):
        assert op_from_json(op_to_json(op)) == op


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "invalid_message"),
        ('{"v": 1, "type": "teleport"}', "unknown_type"),
        ('{"v": 2, "type": "ping"}', "unsupported_version"),
        ('{"v": 1, "type": "hello", "device_id": ""}', "invalid_field"),
        ('{"v": 1, "type": "hello", "device_id": "tv", "extra": 1}', "invalid_field"),
        (
            '{"v": 1, "type": "op", "op_id": "nope", "kind": "lww_set", "key": "k",'
            ' "hlc": {"p": 1, "l": 0, "n": "tv"}}',
            "invalid_field",
        ),
        (
            '{"v": 1, "type": "op", "op_id": "6f1c7c53-3c1f-4d39-9a57-1d7b7b0f3a11",'
            ' "kind": "or_add", "key": "watchlist", "hlc": {"p": 1, "l": 0, "n": "tv"}}',
            "invalid_field",
        ),
    ],
)
def test_bad_frames_are_named(frame: str, code: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_client(frame)
    assert caught.value.code == code
