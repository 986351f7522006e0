"""Consumer contracts: what one service expects of another, written as data and checked both ways.

A contract file (``contracts/consumers/<consumer>--<provider>.json``) lists interactions: a
request the consumer sends and the response it relies on. The response is a *shape* — only what
the consumer reads, so a provider may add fields freely but not take one away or change its
type. The same file is verified against the running provider (replay the request, match the
shape) and against the consumer's own code (serve ``example`` to it from a stub, check that the
request it sends has the contract's shape), so a change on either side fails CI.

Shapes: a type name (``"string"``, ``"integer"``, ``"number"``, ``"boolean"``, ``"object"``,
``"array"``, ``"null"``); ``{"$equals": value}``; ``[shape]`` — an array whose every item has
that shape; an object — those keys present (a key ending in ``?`` may be absent or null), each
with its shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::(\d+))?\}")


def mismatches(shape: Any, value: Any, at: str = "$") -> list[str]:
    """Where ``value`` does not have ``shape`` (empty: it does)."""
    if isinstance(shape, str):
        expected = TYPES.get(shape)
        if expected is None:
            raise ValueError(f"{at}: unknown type name {shape!r} in the contract")
        is_bool = isinstance(value, bool)
        if not isinstance(value, expected) or (is_bool and shape in {"integer", "number"}):
            return [f"{at}: expected {shape}, got {type(value).__name__} {value!r:.60}"]
        return []
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(f"{at}: an array shape has exactly one item shape")
        if not isinstance(value, list):
            return [f"{at}: expected an array, got {type(value).__name__}"]
        return [m for i, item in enumerate(value) for m in mismatches(shape[0], item, f"{at}[{i}]")]
    if isinstance(shape, dict) and "$equals" in shape:
        return [] if value == shape["$equals"] else [f"{at}: expected {shape['$equals']!r}"]
    if isinstance(shape, dict):
        return _object_mismatches(shape, value, at)
    raise ValueError(f"{at}: {shape!r} is not a shape")


def _object_mismatches(shape: dict[str, Any], value: Any, at: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{at}: expected an object, got {type(value).__name__}"]
    found: list[str] = []
    for key, inner in shape.items():
        name, optional = key.removesuffix("?"), key.endswith("?")
        if value.get(name) is None and optional:
            continue
        if name not in value:
            found.append(f"{at}.{name}: missing")
            continue
        found += mismatches(inner, value[name], f"{at}.{name}")
    return found


SCALAR_NAMES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def shape_of(value: Any) -> Any:
    """The shape a concrete JSON value has (arrays by their first item), to compare requests."""
    if isinstance(value, dict):
        return {key: shape_of(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [shape_of(value[0])] if value else "array"
    return "null" if value is None else SCALAR_NAMES.get(type(value), "string")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with ``{name}`` / ``{name:index}`` placeholders replaced from ``values``."""
    if isinstance(template, dict):
        return {key: fill(inner, values) for key, inner in template.items()}
    if isinstance(template, list):
        return [fill(inner, values) for inner in template]
    if not isinstance(template, str):
        return template

    def one(match: re.Match[str]) -> str:
        name, index = match.group(1), match.group(2)
        if name not in values:
            raise KeyError(f"the contract uses {{{name}}}, which the verifier does not provide")
        value = values[name]
        return str(value[int(index)] if index is not None else value)

    return PLACEHOLDER.sub(one, template)


@dataclass(frozen=True)
class Interaction:
    consumer: str
    provider: str
    name: str
    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.consumer} → {self.provider}: {self.name}"


@dataclass(frozen=True)
class EventExpectation:
    consumer: str
    provider: str
    topic: str
    key: Any
    value: Any
    example: dict[str, Any]


def load(directory: Path) -> tuple[list[Interaction], list[EventExpectation]]:
    """Every interaction and event expectation of every contract file in ``directory``."""
    interactions: list[Interaction] = []
    events: list[EventExpectation] = []
    for path in sorted(directory.glob("*--*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        consumer, provider = data["consumer"], data["provider"]
        if path.stem != f"{consumer}--{provider}":
            raise ValueError(f"{path.name}: name it {consumer}--{provider}.json")
        for item in data.get("interactions", []):
            interactions.append(
                Interaction(consumer, provider, item["name"], item["request"], item["response"])
            )
        for topic, expected in data.get("events", {}).items():
            events.append(
                EventExpectation(
                    consumer,
                    provider,
                    topic,
                    expected["key"],
                    expected["value"],
                    expected["example"],
                )
            )
    return interactions, events
