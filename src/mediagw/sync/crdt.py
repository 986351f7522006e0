"""Pure CRDT core: hybrid logical clocks, LWW registers and observed-remove sets. No I/O.

Ordering is total: ``(physical, logical, node)`` then the op id, so two replicas that have seen
the same ops hold the same state whatever order, duplication or interleaving they saw them in.

* LWW register map (``progress/{content_id}``, ``settings/{key}`` …): the op with the highest
  HLC wins; a ``None`` value is a tombstone (the key reads as absent).
* OR-set (``watchlist``): an add tags its element with unique ids; a remove removes the tags
  it observed. A tag removed before its add arrives stays removed, and an add with a tag the
  remove did not observe survives (concurrent add wins over remove).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

OpKind = Literal["lww_set", "or_add", "or_remove"]
SERVER_NODE = "server"


@dataclass(frozen=True, order=True, slots=True)
class HLC:
    """A hybrid logical clock timestamp; compares by (physical ms, logical, node)."""

    physical: int
    logical: int
    node: str

    def to_json(self) -> dict[str, Any]:
        return {"p": self.physical, "l": self.logical, "n": self.node}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HLC:
        return cls(int(data["p"]), int(data["l"]), str(data["n"]))


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    """An HLC for one node. ``now()`` for local events, ``receive()`` on a remote timestamp."""

    def __init__(self, node: str, wall: Callable[[], int] = wall_clock_ms) -> None:
        self.node = node
        self._wall = wall
        self.physical = 0
        self.logical = 0

    def now(self) -> HLC:
        wall = self._wall()
        if wall > self.physical:
            self.physical, self.logical = wall, 0
        else:
            self.logical += 1
        return HLC(self.physical, self.logical, self.node)

    def receive(self, remote: HLC) -> HLC:
        wall = self._wall()
        top = max(wall, self.physical, remote.physical)
        if top == self.physical == remote.physical:
            self.logical = max(self.logical, remote.logical) + 1
        elif top == self.physical:
            self.logical += 1
        elif top == remote.physical:
            self.logical = remote.logical + 1
        else:
            self.logical = 0
        self.physical = top
        return HLC(self.physical, self.logical, self.node)


@dataclass(frozen=True, slots=True)
class Op:
    """One CRDT operation. ``key`` is the register key or the set name."""

    op_id: str
    kind: OpKind
    key: str
    hlc: HLC
    value: Any = None
    element: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def order(self) -> tuple[HLC, str]:
        return (self.hlc, self.op_id)


@dataclass(frozen=True, slots=True)
class Register:
    value: Any
    hlc: HLC
    op_id: str

    @property
    def order(self) -> tuple[HLC, str]:
        return (self.hlc, self.op_id)


@dataclass(slots=True)
class Tag:
    """One add tag of an OR-set element; live while added and not removed."""

    element: str
    added: HLC | None = None
    removed: HLC | None = None

    @property
    def live(self) -> bool:
        return self.added is not None and self.removed is None


@dataclass
class State:
    registers: dict[str, Register] = field(default_factory=dict)
    sets: dict[str, dict[str, Tag]] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        register = self.registers.get(key)
        return None if register is None else register.value

    def elements(self, set_name: str) -> dict[str, list[str]]:
        """Live elements of a set with their live tags (sorted, for stable output)."""
        out: dict[str, list[str]] = {}
        for tag_id, tag in self.sets.get(set_name, {}).items():
            if tag.live:
                out.setdefault(tag.element, []).append(tag_id)
        return {element: sorted(tags) for element, tags in sorted(out.items())}

    def observed_tags(self, set_name: str, element: str) -> tuple[str, ...]:
        return tuple(self.elements(set_name).get(element, ()))

    def snapshot(self) -> dict[str, Any]:
        """A canonical, comparable view of everything a reader can observe."""
        return {
            "registers": {
                k: (r.value, r.hlc, r.op_id)
                for k, r in sorted(self.registers.items())
                if r.value is not None
            },
            "sets": {
                name: {t: (tag.element, tag.added, tag.removed) for t, tag in sorted(tags.items())}
                for name, tags in sorted(self.sets.items())
            },
        }


def apply(state: State, op: Op) -> State:
    """Apply ``op`` in place (and return ``state``); applying it again changes nothing."""
    if op.kind == "lww_set":
        current = state.registers.get(op.key)
        if current is None or op.order > current.order:
            state.registers[op.key] = Register(op.value, op.hlc, op.op_id)
        return state
    if op.element is None:
        raise ValueError(f"{op.kind} needs an element")
    tags = state.sets.setdefault(op.key, {})
    for tag_id in op.tags or ((op.op_id,) if op.kind == "or_add" else ()):
        tag = tags.setdefault(tag_id, Tag(op.element))
        if op.kind == "or_add":
            if tag.added is None or op.hlc < tag.added:
                tag.added = op.hlc
        elif tag.removed is None or op.hlc < tag.removed:
            tag.removed = op.hlc
    return state


def _min(a: HLC | None, b: HLC | None) -> HLC | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def merge(a: State, b: State) -> State:
    """A new state holding both: commutative, associative and idempotent."""
    out = State()
    for key in a.registers.keys() | b.registers.keys():
        ra, rb = a.registers.get(key), b.registers.get(key)
        if ra is None or (rb is not None and rb.order > ra.order):
            assert rb is not None
            out.registers[key] = rb
        else:
            out.registers[key] = ra
    for name in a.sets.keys() | b.sets.keys():
        ta, tb = a.sets.get(name, {}), b.sets.get(name, {})
        merged: dict[str, Tag] = {}
        for tag_id in ta.keys() | tb.keys():
            x, y = ta.get(tag_id), tb.get(tag_id)
            either = x if x is not None else y
            assert either is not None
            element = either.element
            merged[tag_id] = Tag(
                element,
                _min(x.added if x else None, y.added if y else None),
                _min(x.removed if x else None, y.removed if y else None),
            )
        out.sets[name] = merged
    return out


def replay(ops: Iterable[Op], state: State | None = None) -> State:
    state = state or State()
    for op in ops:
        apply(state, op)
    return state
