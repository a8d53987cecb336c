"""The fake's ``where`` grammar: what parses, what it means, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from tap_mixpanel_engage.fake_api.where import (
    MISSING,
    BoolOp,
    Clause,
    WhereError,
    parse_where,
    select,
)

ROWS: list[dict[str, Any]] = [
    {"d": "2024-01-01T00:00:00", "n": 3, "s": "b"},
    {"d": "2024-06-09T23:08:40", "n": "3 seats", "s": "a"},
    {"d": "2025-01-01T00:00:00", "n": 7.5},
    {"n": 10, "s": "c", 'it\'s "q"': "yes"},
]


def _match(text: str) -> list[int]:
    return select(
        parse_where(text),
        range(len(ROWS)),
        lambda i, name: ROWS[i].get(name, MISSING),
        lambda name: None,
    )


def test_parses_clauses_with_and_binding_tighter_than_or() -> None:
    node = parse_where(
        'properties["a"] >= "x" or properties["b"] < 2 and (properties["c"] == -1.5)'
    )
    assert node == BoolOp(
        "or",
        (Clause("a", ">=", "x"), BoolOp("and", (Clause("b", "<", 2), Clause("c", "==", -1.5)))),
    )


def test_names_and_values_may_hold_escaped_quotes_and_unicode() -> None:
    node = parse_where(r'properties["it\'s \"q\""] == "caf\u00e9 \"x\""')
    assert node == Clause('it\'s "q"', "==", 'café "x"')
    assert _match(r'properties["it\'s \"q\""] == "yes"') == [3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('properties["d"] >= "2024-06-09T23:08:40"', [1, 2]),
        ('properties["d"] > "2024-06-09T23:08:40"', [2]),
        ('properties["d"] < "2024-06-09"', [0]),
        ('properties["n"] == 3', [0]),
        ('properties["n"] > 5', [2, 3]),
        ('properties["n"] != 3', [1, 2, 3]),  # a string is != a number; missing never matches
        ('properties["s"] != "a"', [0, 3]),
        ('properties["n"] <= 7.5 and properties["s"] == "b"', [0]),
        ('properties["s"] == "c" or properties["d"] <= "2024-01-01T00:00:00"', [0, 3]),
        ('(properties["s"] == "c" OR properties["s"] == "a") and properties["n"] >= 0', [3]),
    ],
)
def test_clauses_compare_like_mixpanel(text: str, expected: list[int]) -> None:
    assert _match(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        'properties["d"]',
        'properties["d"] >=',
        'properties["d"] => "x"',
        'properties[d] == "x"',
        'properties["d"] == x',
        'properties["d"] == "x" and',
        '(properties["d"] == "x"',
        'properties["d"] == "x")',
        'user["d"] == "x"',
        'properties["d"] == "x" properties["e"] == 1',
        'properties["d"] == "bad \\q escape"',
        'defined(properties["d"])',
    ],
)
def test_anything_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(WhereError):
        parse_where(text)


def test_and_narrows_before_asking_for_values() -> None:
    asked: list[tuple[int, str]] = []

    def value(i: int, name: str) -> Any:
        asked.append((i, name))
        return ROWS[i].get(name, MISSING)

    column = [row.get("d", MISSING) for row in ROWS]
    node = parse_where('properties["d"] >= "2024-06-01" and properties["s"] == "a"')
    hits = select(node, range(4), value, lambda name: column if name == "d" else None)
    assert hits == [1]
    assert asked == [(1, "s"), (2, "s")]
