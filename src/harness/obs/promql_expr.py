"""Just enough of a PromQL parser to know which series an expression needs to return anything.

Prometheus 2.42 has no parse endpoint (``/api/v1/parse_query`` came later) and no Python PromQL
parser is a dependency, so this reads an expression into a small tree: selectors (with their
matchers and source text), literals, function calls and aggregations, binary operations.
Ranges, subqueries, ``offset``, ``@`` and grouping label lists are read and dropped: they do not
change *which* series an expression needs.

Two questions are answered from the tree:

* :func:`selectors` — every series selector, split into those an expression needs and those it
  only tests for absence (inside ``absent()`` / ``absent_over_time()``, which return a series
  exactly when their argument has none);
* :func:`can_produce` — whether the expression could return anything at all when some series
  names exist nowhere: ``a or b`` needs either side, ``a unless b`` only ``a``, every other
  operator and function needs all of its arguments; literals and ``vector()`` / ``time()`` need
  nothing.

Strings in expressions are read as PromQL does (Go escapes in ``"``/``'``, raw in backticks).
A syntax this parser does not know raises :class:`PromQLSyntaxError`; callers treat that as
"not analysed", never as "cannot fire".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

AGGREGATIONS = frozenset(
    {
        "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
        "count_values", "quantile", "limitk", "limit_ratio",
    }
)  # fmt: skip
ABSENCE_FUNCTIONS = frozenset({"absent", "absent_over_time"})
"""Functions that return a series exactly when their argument selects none."""
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
    "+": 4, "-": 4,
    "*": 5, "/": 5, "%": 5, "atan2": 5,
    "^": 6,
}  # fmt: skip
_MODIFIERS = frozenset({"on", "ignoring"})
_GROUP_MODIFIERS = frozenset({"group_left", "group_right"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![A-Za-z0-9_.]))
    |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=@(){}\[\],:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}  # fmt: skip


class PromQLSyntaxError(ValueError):
    """The expression is not PromQL this parser reads (it does not imply Prometheus refuses it)."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    """``=``, ``!=``, ``=~`` or ``!~``."""
    value: str
    """Unquoted, escapes resolved."""


@dataclass(frozen=True)
class Selector:
    name: str | None
    """The series name, from ``name{…}`` or an exact ``__name__="…"``; None when only a regex
    or nothing names it."""
    matchers: tuple[Matcher, ...]
    text: str
    """The selector as written in the expression (name and braces, no range)."""


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Call:
    function: str
    """A function or aggregation operator, lower-cased."""
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node


Node = Selector | Literal | Call | Binary


@dataclass
class _Parser:
    source: str
    tokens: list[Token]
    position: int = 0
    _end: Token = field(init=False)

    def __post_init__(self) -> None:
        self._end = Token("end", "", len(self.source), len(self.source))

    # --- token access ---------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else self._end

    def take(self) -> Token:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text != text:
            raise self.error(f"expected {text!r}, found {token.text or 'the end'!r}", token)
        return token

    def error(self, message: str, token: Token | None = None) -> PromQLSyntaxError:
        at = (token or self.peek()).start
        return PromQLSyntaxError(f"{message} at offset {at}: {self.source!r}")

    def is_keyword(self, token: Token, *words: str) -> bool:
        return token.kind == "ident" and token.text.lower() in words

    # --- grammar --------------------------------------------------------------------------------

    def expression(self, min_precedence: int = 1) -> Node:
        lhs = self.unary()
        while True:
            token = self.peek()
            op = token.text.lower() if token.kind in ("ident", "op") else ""
            precedence = _PRECEDENCE.get(op, 0)
            if precedence < min_precedence or precedence == 0:
                return lhs
            self.take()
            self.binary_modifiers()
            # ``^`` is right-associative, every other operator left-associative.
            rhs = self.expression(precedence if op == "^" else precedence + 1)
            lhs = Binary(op, lhs, rhs)

    def binary_modifiers(self) -> None:
        if self.is_keyword(self.peek(), "bool"):
            self.take()
        if self.is_keyword(self.peek(), *_MODIFIERS):
            self.take()
            self.label_list()
        if self.is_keyword(self.peek(), *_GROUP_MODIFIERS):
            self.take()
            if self.peek().text == "(":
                self.label_list()

    def label_list(self) -> None:
        self.expect("(")
        while self.peek().text != ")":
            token = self.take()
            if token.kind not in ("ident", "string") and token.text != ",":
                raise self.error(f"unexpected {token.text or 'end'!r} in a label list", token)
        self.expect(")")

    def unary(self) -> Node:
        if self.peek().text in ("-", "+"):
            sign = self.take().text
            operand = self.unary()
            return Binary("*", Literal(f"{sign}1"), operand) if sign == "-" else operand
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token.text == "[":
                self.take()
                while self.peek().text != "]":
                    if self.take().kind == "end":
                        raise self.error("unclosed '['", token)
                self.take()
            elif self.is_keyword(token, "offset"):
                self.take()
                if self.peek().text == "-":
                    self.take()
                self.duration()
            elif token.text == "@":
                self.take()
                if self.peek().text in ("-", "+"):
                    self.take()
                if self.is_keyword(self.peek(), "start", "end"):
                    self.take()
                    self.expect("(")
                    self.expect(")")
                elif self.peek().kind == "number":
                    self.take()
                else:
                    raise self.error("expected a time after '@'")
            else:
                return node

    def duration(self) -> None:
        token = self.take()
        if token.kind not in ("duration", "number"):
            raise self.error("expected a duration", token)

    def primary(self) -> Node:
        token = self.peek()
        if token.text == "(":
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind in ("number", "duration", "string"):
            self.take()
            return Literal(token.text)
        if token.text == "{":
            return self.selector(None, token.start)
        if token.kind != "ident":
            raise self.error(f"unexpected {token.text or 'end'!r}", token)
        return self.identifier(token)

    def identifier(self, token: Token) -> Node:
        """What an identifier starts: an aggregation, a call, ``Inf``/``NaN`` or a selector."""
        lowered = token.text.lower()
        following = self.peek(1)
        self.take()
        if lowered in AGGREGATIONS and (
            following.text == "(" or self.is_keyword(following, "by", "without")
        ):
            return self.aggregation(lowered)
        if following.text == "(":
            return Call(lowered, self.arguments())
        if lowered in ("inf", "nan"):
            return Literal(token.text)
        if following.text == "{":
            return self.selector(token.text, token.start)
        return Selector(token.text, (), token.text)

    def aggregation(self, operator: str) -> Call:
        if self.is_keyword(self.peek(), "by", "without"):
            self.take()
            self.label_list()
        args = self.arguments()
        if self.is_keyword(self.peek(), "by", "without"):
            self.take()
            self.label_list()
        return Call(operator, args)

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        while self.peek().text != ")":
            args.append(self.expression())
            if self.peek().text == ",":
                self.take()
            elif self.peek().text != ")":
                raise self.error("expected ',' or ')' in an argument list")
        self.expect(")")
        return tuple(args)

    def selector(self, name: str | None, start: int) -> Selector:
        self.expect("{")
        matchers: list[Matcher] = []
        while self.peek().text != "}":
            label = self.take()
            if label.kind == "string" and self.peek().text in (",", "}"):
                name = unquote(label.text)  # {"metric.name"}: a quoted name (Prometheus 3)
            elif label.kind == "ident":
                op = self.take()
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise self.error(f"expected a matcher operator, found {op.text!r}", op)
                value = self.take()
                if value.kind != "string":
                    raise self.error("expected a quoted label value", value)
                matchers.append(Matcher(label.text, op.text, unquote(value.text)))
            else:
                raise self.error(f"unexpected {label.text!r} in a selector", label)
            if self.peek().text == ",":
                self.take()
            elif self.peek().text != "}":
                raise self.error("expected ',' or '}' in a selector")
        close = self.expect("}")
        for matcher in matchers:
            if matcher.label == "__name__" and matcher.op == "=":
                name = matcher.value
        return Selector(name, tuple(matchers), self.source[start : close.end])


def unquote(text: str) -> str:
    """A PromQL string literal's value: backticks raw, quotes with Go escapes resolved."""
    body = text[1:-1]
    if text[0] == "`":
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def quote(value: str) -> str:
    """``value`` as a double-quoted PromQL string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tokenize(source: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise PromQLSyntaxError(f"unexpected {source[position]!r} at offset {position}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), match.start(), match.end()))
        position = match.end()
    return tokens


def parse(source: str) -> Node:
    """The expression's tree; :class:`PromQLSyntaxError` when it cannot be read."""
    parser = _Parser(source, tokenize(source))
    node = parser.expression()
    if parser.peek().kind != "end":
        raise parser.error(f"unexpected {parser.peek().text!r}")
    return node


def walk(node: Node, *, inside_absence: bool = False) -> Iterator[tuple[Selector, bool]]:
    """Every selector under ``node`` with whether it sits inside an absence function."""
    if isinstance(node, Selector):
        yield node, inside_absence
    elif isinstance(node, Call):
        absence = inside_absence or node.function in ABSENCE_FUNCTIONS
        for arg in node.args:
            yield from walk(arg, inside_absence=absence)
    elif isinstance(node, Binary):
        yield from walk(node.lhs, inside_absence=inside_absence)
        yield from walk(node.rhs, inside_absence=inside_absence)


@dataclass(frozen=True)
class References:
    needed: tuple[Selector, ...]
    """Selectors whose series the expression uses."""
    absence_tested: tuple[Selector, ...]
    """Selectors inside ``absent()`` / ``absent_over_time()``: the expression returns a series
    when they select *nothing*."""

    def names(self) -> set[str]:
        return {s.name for s in self.needed if s.name is not None}

    def absence_names(self) -> set[str]:
        return {s.name for s in self.absence_tested if s.name is not None}


def selectors(expr: str | Node) -> References:
    node = parse(expr) if isinstance(expr, str) else expr
    needed: list[Selector] = []
    absence: list[Selector] = []
    for selector, inside in walk(node):
        (absence if inside else needed).append(selector)
    return References(tuple(needed), tuple(absence))


def can_produce(expr: str | Node, exists: Callable[[Selector], bool]) -> bool:
    """Whether ``expr`` could return a series, given which selectors can select anything.

    ``exists(selector)`` answers for one selector; the rules: ``or`` needs either side,
    ``unless`` its left side, every other binary operator both sides (a literal side needs
    nothing); an absence function always can (that is its point); any other call needs every
    argument; a literal needs nothing.
    """
    node = parse(expr) if isinstance(expr, str) else expr
    if isinstance(node, Selector):
        return exists(node)
    if isinstance(node, Call):
        return node.function in ABSENCE_FUNCTIONS or all(
            can_produce(arg, exists) for arg in node.args
        )
    if isinstance(node, Binary):
        lhs = can_produce(node.lhs, exists)
        if node.op == "unless":
            return lhs
        rhs = can_produce(node.rhs, exists)
        return (lhs or rhs) if node.op == "or" else (lhs and rhs)
    return True  # a literal
