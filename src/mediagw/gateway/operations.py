"""What each service answers, read from its OpenAPI document: paths, methods and credentials.

The gateway decides three things before a request reaches a service, and takes all three from
the service's own document so that they can never disagree with it:

* whether anything lives at the path (else 404),
* whether the method is served there (else 405 with ``Allow``) — before any token is looked at,
  so an undeclared method is a 405 for everyone, signed in or not;
* what the operation does with credentials (:class:`Access`).

Bearer tokens on public operations follow one rule, stated in the documents: an operation that
declares no security ignores the ``Authorization`` header altogether (a stale token sent to
``POST /auth/token`` or ``GET /content/{id}`` changes nothing); an operation whose security is
optional (``[{HTTPBearer: []}, {}]``: search, deep links) uses a valid token and refuses an
invalid one with 401, as a protected operation does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""In the order ``Allow`` lists them (the services' own 405s use the same order)."""

_PARAMETER = re.compile(r"\{([^}/]+)\}")


class Access(enum.Enum):
    NONE = "none"
    """No security declared: credentials are not looked at."""
    OPTIONAL = "optional"
    """A token may be sent; if it is, it must be valid."""
    REQUIRED = "required"


@dataclass(frozen=True)
class PathItem:
    """One documented path: its template, the regex that matches concrete paths, and the
    access of each method served there."""

    template: str
    pattern: re.Pattern[str]
    methods: Mapping[str, Access]

    def access(self, method: str) -> Access | None:
        """The access rule of ``method`` here, None if it is not served (HEAD only where the
        document declares it, as the services' own routers do)."""
        return self.methods.get(method)


def allow_header(methods: Iterable[str]) -> str:
    """``Allow`` for a set of served methods, in the order the services' own 405s use."""
    served = set(methods)
    return ", ".join(method for method in HTTP_METHODS if method in served)


def _access(operation: Mapping[str, Any], default: list[Any] | None) -> Access:
    requirements = operation.get("security", default) or []
    if not requirements:
        return Access.NONE
    return Access.OPTIONAL if any(not r for r in requirements) else Access.REQUIRED


def _segment_pattern(name: str, parameters: Iterable[Mapping[str, Any]]) -> str:
    """A path parameter matches what its schema's ``pattern`` allows, else one segment."""
    for parameter in parameters:
        if parameter.get("in") == "path" and parameter.get("name") == name:
            pattern = parameter.get("schema", {}).get("pattern")
            if isinstance(pattern, str):
                return f"(?:{pattern.removeprefix('^').removesuffix('$')})"
    return "[^/]+"


def _path_regex(template: str, item: Mapping[str, Any]) -> re.Pattern[str]:
    parameters = [
        p
        for operation in item.values()
        if isinstance(operation, dict)
        for p in operation.get("parameters", [])
    ]
    parts = _PARAMETER.split(template)
    regex = "".join(
        re.escape(part) if index % 2 == 0 else _segment_pattern(part, parameters)
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


class OperationTable:
    """Every path of one document, matched against concrete request paths."""

    def __init__(self, items: list[PathItem]) -> None:
        self.items = items

    @classmethod
    def from_document(cls, document: Mapping[str, Any], prefix: str = "/api/") -> OperationTable:
        default = document.get("security")
        items = []
        for template, item in document.get("paths", {}).items():
            if not template.startswith(prefix):
                continue
            methods = {
                method.upper(): _access(operation, default)
                for method, operation in item.items()
                if method.upper() in HTTP_METHODS and isinstance(operation, dict)
            }
            items.append(PathItem(template, _path_regex(template, item), methods))
        return cls(items)

    def match(self, path: str) -> PathItem | None:
        """The documented path ``path`` falls on, or None. Several templates can match one
        path (``/content/{id}`` and a literal sibling): their methods are united, as a router
        that tries each route in turn would serve them all."""
        found = [item for item in self.items if item.pattern.match(path)]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        methods: dict[str, Access] = {}
        for item in found:
            for method, access in item.methods.items():
                methods.setdefault(method, access)
        return PathItem(found[0].template, found[0].pattern, methods)
