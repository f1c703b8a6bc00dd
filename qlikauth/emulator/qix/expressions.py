"""A small, honest Qlik expression evaluator: tokenizer, recursive-descent parser, aggregator.

Grammar (lowest precedence first)::

    expr    := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := "NOT" not | compare
    compare := concat (("=" | "<>" | "<" | ">" | "<=" | ">=") concat)?
    concat  := sum ("&" sum)*
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | primary
    primary := number | 'text' | "(" expr ")" | AGG "(" ["DISTINCT"] expr ")"
             | FUNC "(" expr ("," expr)* ")" | field
    field   := name | [name with ]] for ]] | "name"

``AGG`` is Sum, Count, Avg, Min, Max or Only; ``FUNC`` is If(cond, then[, else]),
Round(x[, step]), Abs, Upper, Lower or IsNull (names in any case). A field outside an
aggregation means ``Only(field)`` over the rows in scope, as in Qlik: the value when there is
exactly one.
Null follows Qlik: arithmetic with null is null, ``&`` reads null as empty text, division by
zero is null; true is -1 and false 0.

Aggregations are computed by feeding rows one at a time to accumulators, so an expression
over ten million generated rows needs no list of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from qlikauth.emulator.qix.values import Value, as_number, is_number, text_of

__all__ = [
    "AGGREGATIONS",
    "FUNCTIONS",
    "Expression",
    "ExpressionError",
    "check_expression",
    "compile_expression",
]

AGGREGATIONS = ("sum", "count", "avg", "min", "max", "only")
"""The aggregation functions the evaluator knows (names are case-insensitive)."""

FUNCTIONS = {
    "if": (2, 3),
    "round": (1, 2),
    "abs": (1, 1),
    "upper": (1, 1),
    "lower": (1, 1),
    "isnull": (1, 1),
}
"""Scalar functions and how many arguments each takes (least, most)."""

RowFn = Callable[[Sequence[Value]], Value]
"""A row-level expression: one row in, one value out."""


class ExpressionError(ValueError):
    """The expression does not parse, or names a field or function that does not exist."""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<name>[^\W\d][\w.%$#@]*|[%$#@][\w.%$#@]*)
  | (?P<op><>|<=|>=|[-+*/&=<>(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, field, name, op, end
    text: str
    value: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ExpressionError(f"Error in expression: unexpected {text[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "string":
            tokens.append(_Token("string", raw, raw[1:-1].replace("''", "'"), pos))
        elif kind == "bracket":
            tokens.append(_Token("field", raw, raw[1:-1].replace("]]", "]"), pos))
        elif kind == "quoted":
            tokens.append(_Token("field", raw, raw[1:-1].replace('""', '"'), pos))
        elif kind != "ws":
            tokens.append(_Token(kind, raw, raw, pos))
        pos = match.end()
    tokens.append(_Token("end", "", "", len(text)))
    return tokens


# The syntax tree.


@dataclass(frozen=True)
class _Literal:
    value: Value


@dataclass(frozen=True)
class _Field:
    name: str
    pos: int
    length: int


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Aggregate:
    function: str
    distinct: bool
    argument: _Node
    pos: int


@dataclass(frozen=True)
class _Call:
    function: str
    arguments: tuple[_Node, ...]


_Node = _Literal | _Field | _Unary | _Binary | _Aggregate | _Call


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._at = 0

    def parse(self) -> _Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"Error in expression: unexpected {token.text!r} at {token.pos}")
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "name" and token.text.upper() == word:
            self._at += 1
            return True
        return False

    def _op(self, *ops: str) -> str | None:
        token = self._peek()
        if token.kind == "op" and token.text in ops:
            self._at += 1
            return token.text
        return None

    def _or(self) -> _Node:
        node = self._and()
        while self._keyword("OR"):
            node = _Binary("or", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._keyword("AND"):
            node = _Binary("and", node, self._not())
        return node

    def _not(self) -> _Node:
        if self._keyword("NOT"):
            return _Unary("not", self._not())
        return self._compare()

    def _compare(self) -> _Node:
        node = self._concat()
        op = self._op("=", "<>", "<", ">", "<=", ">=")
        if op is not None:
            node = _Binary(op, node, self._concat())
        return node

    def _concat(self) -> _Node:
        node = self._sum()
        while self._op("&"):
            node = _Binary("&", node, self._sum())
        return node

    def _sum(self) -> _Node:
        node = self._product()
        while (op := self._op("+", "-")) is not None:
            node = _Binary(op, node, self._product())
        return node

    def _product(self) -> _Node:
        node = self._unary()
        while (op := self._op("*", "/")) is not None:
            node = _Binary(op, node, self._unary())
        return node

    def _unary(self) -> _Node:
        op = self._op("-", "+")
        if op is not None:
            return _Unary(op, self._unary())
        return self._primary()

    def _primary(self) -> _Node:
        token = self._next()
        if token.kind == "number":
            return _Literal(float(token.text))
        if token.kind == "string":
            return _Literal(token.value)
        if token.kind == "field":
            return _Field(token.value, token.pos, len(token.text))
        if token.kind == "op" and token.text == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "name":
            if self._op("(") is None:
                return _Field(token.text, token.pos, len(token.text))
            function = token.text.lower()
            if function in FUNCTIONS:
                return self._call(function, token)
            if function not in AGGREGATIONS:
                raise ExpressionError(
                    f"Error in expression: '{token.text}' is not a valid function"
                )
            distinct = self._keyword("DISTINCT")
            argument = self._or()
            self._expect(")")
            return _Aggregate(function, distinct, argument, token.pos)
        where = "end of expression" if token.kind == "end" else repr(token.text)
        raise ExpressionError(f"Error in expression: unexpected {where} at {token.pos}")

    def _call(self, function: str, token: _Token) -> _Call:
        arguments = [self._or()]
        while self._op(","):
            arguments.append(self._or())
        self._expect(")")
        least, most = FUNCTIONS[function]
        if not least <= len(arguments) <= most:
            raise ExpressionError(
                f"Error in expression: {token.text} takes {least} to {most} arguments,"
                f" got {len(arguments)}"
            )
        return _Call(function, tuple(arguments))

    def _expect(self, op: str) -> None:
        token = self._next()
        if token.kind != "op" or token.text != op:
            raise ExpressionError(f"Error in expression: '{op}' expected at {token.pos}")


# Operators on values.


def _truth(value: Value) -> bool:
    number = as_number(value)
    return number is not None and number != 0


def _flag(condition: bool) -> float:
    return -1.0 if condition else 0.0


def _compare(op: str, left: Value, right: Value) -> Value:
    if left is None or right is None:
        return 0.0
    a, b = as_number(left), as_number(right)
    if a is not None and b is not None:
        x: float | str = a
        y: float | str = b
    else:
        x, y = text_of(left), text_of(right)
    if op == "=":
        return _flag(x == y)
    if op == "<>":
        return _flag(x != y)
    if op == "<":
        return _flag(x < y)  # type: ignore[operator]
    if op == ">":
        return _flag(x > y)  # type: ignore[operator]
    if op == "<=":
        return _flag(x <= y)  # type: ignore[operator]
    return _flag(x >= y)  # type: ignore[operator]


def _arithmetic(op: str, left: Value, right: Value) -> Value:
    a, b = as_number(left), as_number(right)
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def _apply(op: str, left: Value, right: Value) -> Value:
    if op == "&":
        return ("" if left is None else text_of(left)) + ("" if right is None else text_of(right))
    if op == "and":
        return _flag(_truth(left) and _truth(right))
    if op == "or":
        return _flag(_truth(left) or _truth(right))
    if op in ("+", "-", "*", "/"):
        return _arithmetic(op, left, right)
    return _compare(op, left, right)


def _negate(op: str, value: Value) -> Value:
    if op == "not":
        return _flag(not _truth(value))
    number = as_number(value)
    if number is None:
        return None
    return -number if op == "-" else number


def _function(name: str, arguments: list[Value]) -> Value:
    first = arguments[0]
    if name == "if":
        otherwise = arguments[2] if len(arguments) > 2 else None
        return arguments[1] if _truth(first) else otherwise
    if name == "isnull":
        return _flag(first is None)
    if name in ("upper", "lower"):
        if first is None:
            return None
        text = text_of(first)
        return text.upper() if name == "upper" else text.lower()
    number = as_number(first)
    if number is None:
        return None
    if name == "abs":
        return abs(number)
    step = as_number(arguments[1]) if len(arguments) > 1 else 1.0
    if step is None or step == 0:
        return None
    # Qlik rounds halves up (towards +infinity), not to even.
    return math.floor(number / step + 0.5) * step


# Accumulators: one per aggregation per group.


class _Accumulator:
    """Feeds values one at a time; ``result`` gives the aggregate."""

    __slots__ = ("count", "distinct", "function", "high", "low", "total", "values")

    def __init__(self, function: str, distinct: bool) -> None:
        self.function = function
        self.distinct = distinct
        self.total = 0.0
        self.count = 0
        self.low: float | None = None
        self.high: float | None = None
        self.values: set[Value] | None = set() if distinct or function == "only" else None

    def add(self, value: Value) -> None:
        if value is None:
            return
        if self.values is not None:
            # Only needs to know whether there is more than one value.
            if self.function != "only" or len(self.values) < 2:
                self.values.add(value)
            return
        self._add(value)

    def _add(self, value: Value) -> None:
        if self.function == "count":
            self.count += 1
            return
        number = value if is_number(value) else as_number(value)
        if number is None:
            return
        number = float(number)
        self.count += 1
        self.total += number
        if self.low is None or number < self.low:
            self.low = number
        if self.high is None or number > self.high:
            self.high = number

    def result(self) -> Value:
        if self.values is not None:
            if self.function == "only":
                return next(iter(self.values)) if len(self.values) == 1 else None
            if self.function == "count":
                return float(len(self.values))
            distinct_values, self.values = self.values, None
            for value in distinct_values:
                self._add(value)
        if self.function == "sum":
            return self.total
        if self.function == "count":
            return float(self.count)
        if self.function == "avg":
            return self.total / self.count if self.count else None
        if self.function == "min":
            return self.low
        return self.high


def _single(function: str, value: Value) -> Value:
    """An aggregation over one value: what an accumulator fed once would give."""
    if function == "only":
        return value
    if function == "count":
        return 0.0 if value is None else 1.0
    number = as_number(value) if not is_number(value) else float(value)  # type: ignore[arg-type]
    if function == "sum":
        return 0.0 if number is None else number
    return number


# Compilation.


def _row_function(node: _Node, columns: dict[str, int]) -> RowFn:
    if isinstance(node, _Literal):
        value = node.value
        return lambda row: value
    if isinstance(node, _Field):
        column = columns[node.name]
        return lambda row: row[column]
    if isinstance(node, _Unary):
        operand = _row_function(node.operand, columns)
        op = node.op
        return lambda row: _negate(op, operand(row))
    if isinstance(node, _Binary):
        left = _row_function(node.left, columns)
        right = _row_function(node.right, columns)
        op = node.op
        return lambda row: _apply(op, left(row), right(row))
    if isinstance(node, _Call):
        arguments = [_row_function(argument, columns) for argument in node.arguments]
        name = node.function
        return lambda row: _function(name, [argument(row) for argument in arguments])
    raise ExpressionError("Error in expression: nested aggregation not allowed")


@dataclass(frozen=True)
class _AggregateSlot:
    function: str
    distinct: bool
    argument: RowFn


class Expression:
    """A compiled expression: aggregations to feed with rows, and the formula over them."""

    def __init__(self, text: str, node: _Node, columns: dict[str, int]) -> None:
        self.text = text
        self._slots: list[_AggregateSlot] = []
        self._formula = self._compile(node, columns)

    def _compile(self, node: _Node, columns: dict[str, int]) -> Callable[[list[Value]], Value]:
        if isinstance(node, _Literal):
            value = node.value
            return lambda results: value
        if isinstance(node, _Field):
            # A field outside an aggregation is Only(field) over the rows in scope.
            node = _Aggregate("only", False, node, node.pos)
        if isinstance(node, _Aggregate):
            index = len(self._slots)
            argument = _row_function(node.argument, columns)
            self._slots.append(_AggregateSlot(node.function, node.distinct, argument))
            return lambda results: results[index]
        if isinstance(node, _Unary):
            operand = self._compile(node.operand, columns)
            op = node.op
            return lambda results: _negate(op, operand(results))
        if isinstance(node, _Call):
            arguments = [self._compile(argument, columns) for argument in node.arguments]
            name = node.function
            return lambda results: _function(name, [argument(results) for argument in arguments])
        left = self._compile(node.left, columns)
        right = self._compile(node.right, columns)
        op = node.op
        return lambda results: _apply(op, left(results), right(results))

    def start(self) -> list[_Accumulator]:
        """Fresh accumulators for one group of rows."""
        return [_Accumulator(slot.function, slot.distinct) for slot in self._slots]

    def feed(self, state: list[_Accumulator], row: Sequence[Value]) -> None:
        """Add one row to a group's accumulators."""
        for slot, accumulator in zip(self._slots, state, strict=True):
            accumulator.add(slot.argument(row))

    def finish(self, state: list[_Accumulator]) -> Value:
        """The expression's value for the group fed into ``state``."""
        return self._formula([accumulator.result() for accumulator in state])

    def evaluate_row(self, row: Sequence[Value]) -> Value:
        """The expression's value over the one row ``row`` (no accumulators needed)."""
        return self._formula([_single(slot.function, slot.argument(row)) for slot in self._slots])

    def evaluate(self, rows: Iterable[Sequence[Value]]) -> Value:
        """The expression's value over ``rows``."""
        state = self.start()
        if self._slots:
            for row in rows:
                self.feed(state, row)
        return self.finish(state)


def _unknown_fields(node: _Node, columns: dict[str, int]) -> Iterator[_Field]:
    """Every field reference of ``node`` whose name is not a column, in expression order."""
    if isinstance(node, _Field):
        if node.name not in columns:
            yield node
    elif isinstance(node, _Unary):
        yield from _unknown_fields(node.operand, columns)
    elif isinstance(node, _Binary):
        yield from _unknown_fields(node.left, columns)
        yield from _unknown_fields(node.right, columns)
    elif isinstance(node, _Aggregate):
        yield from _unknown_fields(node.argument, columns)
    elif isinstance(node, _Call):
        for argument in node.arguments:
            yield from _unknown_fields(argument, columns)


def _parsed(text: str) -> tuple[_Node, int]:
    """The syntax tree of ``text`` and where its body starts (after blanks and an ``=``)."""
    source = text.lstrip()
    offset = len(text) - len(source)
    if source.startswith("="):
        source, offset = source[1:], offset + 1
    if not source.strip():
        raise ExpressionError("Error in expression: the expression is empty")
    return _Parser(source).parse(), offset


def compile_expression(text: str, fields: Sequence[str]) -> Expression:
    """Parse ``text`` (an optional leading ``=`` is allowed) against a table's ``fields``."""
    node, _offset = _parsed(text)
    columns = {field: index for index, field in enumerate(fields)}
    bad = list(dict.fromkeys(field.name for field in _unknown_fields(node, columns)))
    if bad:
        raise ExpressionError(f"Bad field name(s): {', '.join(bad)}")
    return Expression(text, node, columns)


def check_expression(text: str, fields: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """What ``Doc.CheckExpression`` reports: the syntax error message (empty when it parses)
    and each unknown field reference as (first character, length) in ``text``."""
    try:
        node, offset = _parsed(text)
    except ExpressionError as exc:
        return str(exc), []
    columns = {field: index for index, field in enumerate(fields)}
    return "", [(offset + f.pos, f.length) for f in _unknown_fields(node, columns)]
