"""The small slice of Mixpanel's segmentation expressions that taps send as ``where``.

Grammar: ``clause ((and | or) clause)*`` with parentheses, ``and`` binding tighter than ``or``;
a clause is ``properties["NAME"] OP VALUE`` (or ``behaviors["NAME"] OP VALUE``, a behavior the
query defines) with OP one of ``>= > <= < == !=`` and VALUE a double-quoted string or a number.
Strings compare lexicographically (so naive ISO dates compare correctly), numbers numerically; a
missing property, or a value of the other type, never matches (except that a present value of
the other type is ``!=``).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()
"""What a property lookup returns for a profile without that property."""

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
    |(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<op>>=|<=|==|!=|>|<)
    |(?P<punct>[()\[\]])
    |(?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _string(raw: str) -> str:
    """A double-quoted literal: JSON escapes, plus ``\\'`` as JavaScript allows."""
    return str(json.loads(_ESCAPE.sub(lambda m: "'" if m[1] == "'" else m[0], raw)))


class WhereError(ValueError):
    """The expression is outside the grammar; the message says where."""


@dataclass(frozen=True)
class Clause:
    name: str
    op: str
    value: str | int | float
    source: str = "properties"
    """``properties`` or ``behaviors``: where ``name`` is looked up."""


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Clause | BoolOp


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise WhereError(f"unexpected character at offset {pos}: {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        value = m.group(kind)
        out.append((kind, value.lower() if kind == "word" else value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            want = value or kind
            raise WhereError(f"expected {want} at token {self.i + 1}, got {v or 'end of input'!r}")
        self.i += 1
        return v

    def expr(self, op: str = "or") -> Node:
        items = [self.expr("and") if op == "or" else self.atom()]
        while self.peek() == ("word", op):
            self.i += 1
            items.append(self.expr("and") if op == "or" else self.atom())
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items))

    def atom(self) -> Node:
        if self.peek() == ("punct", "("):
            self.i += 1
            node = self.expr()
            self.take("punct", ")")
            return node
        source = self.take("word")
        if source not in ("properties", "behaviors"):
            raise WhereError(f"expected properties or behaviors at token {self.i}, got {source!r}")
        self.take("punct", "[")
        name = _string(self.take("string"))
        self.take("punct", "]")
        op = self.take("op")
        kind, raw = self.peek()
        if kind == "string":
            value: str | int | float = _string(raw)
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        else:
            raise WhereError(f"expected a quoted string or a number after {op}, got {raw!r}")
        self.i += 1
        return Clause(name, op, value, source)


def parse_where(text: str) -> Node:
    """Parse ``text``; raise ``WhereError`` with a short detail when it is not in the grammar."""
    try:
        parser = _Parser(text)
        if not parser.toks:
            raise WhereError("empty expression")
        node = parser.expr()
        if parser.i != len(parser.toks):
            raise WhereError(f"unexpected {parser.peek()[1]!r} at token {parser.i + 1}")
    except json.JSONDecodeError as exc:
        raise WhereError(f"bad string literal: {exc.msg}") from exc
    return node


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def clause_test(clause: Clause) -> Callable[[Any], bool]:
    """A predicate on one property value (``MISSING`` when absent) for ``clause``."""
    cmp = _OPS[clause.op]
    want = clause.value
    same_type: Callable[[Any], bool] = (
        (lambda v: isinstance(v, str)) if isinstance(want, str) else _is_number
    )
    mismatch = clause.op == "!="

    def test(v: Any) -> bool:
        if v is MISSING:
            return False
        return cmp(v, want) if same_type(v) else mismatch

    return test


def names(node: Node, source: str = "properties") -> set[str]:
    """Every property (or behavior) name the expression reads."""
    if isinstance(node, Clause):
        return {node.name} if node.source == source else set()
    return set().union(*(names(n, source) for n in node.items))


def select(
    node: Node,
    candidates: Sequence[int],
    value: Callable[[int, str], Any],
    column: Callable[[str], Sequence[Any] | None],
    behavior: Callable[[int, str], Any] | None = None,
) -> list[int]:
    """The candidates (profile indices, ascending) that match, in their order.

    ``column(name)`` may return a precomputed value per index (the fast path for ``$last_seen``);
    otherwise ``value(index, name)`` is asked, or ``behavior(index, name)`` for a behaviors
    clause (``MISSING`` without it). ``and`` narrows the candidates of its next clause, so a cheap
    first clause spares the expensive ones most of their work.
    """
    if isinstance(node, Clause) and node.source == "behaviors":
        test = clause_test(node)
        return [i for i in candidates if test(behavior(i, node.name) if behavior else MISSING)]
    if isinstance(node, Clause):
        test = clause_test(node)
        col = column(node.name)
        if col is not None:
            return [i for i in candidates if test(col[i])]
        name = node.name
        return [i for i in candidates if test(value(i, name))]
    if node.op == "and":
        current = list(candidates)
        for item in node.items:
            current = select(item, current, value, column, behavior)
        return current
    matched: set[int] = set()
    remaining = list(candidates)
    for item in node.items:
        hits = select(item, remaining, value, column, behavior)
        matched.update(hits)
        remaining = [i for i in remaining if i not in matched]
    return [i for i in candidates if i in matched]
