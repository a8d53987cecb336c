"""Shaping response bodies into records: the two decodings agree on every record.

``sync()`` into a sink that accepts JSON text gets ``properties`` undecoded; everything else
gets Python values. The records must be the same records either way.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from tap_mixpanel_engage.engage.records import EMPTY_OBJECT, shape_page
from tap_mixpanel_engage.fake_api.profiles import profile_json

ODD_RESULTS: list[dict[str, Any]] = [
    {"$distinct_id": 42, "$properties": {"$email": 7, "$name": None, "$created": "yesterday"}},
    {"$distinct_id": "no-properties"},
    {"$distinct_id": "null-properties", "$properties": None},
    {"$distinct_id": "list-properties", "$properties": [1, 2]},
    {"$properties": {"$last_seen": "2024-06-09T23:08:40+02:00", "$city": "Zürich", "x": {}}},
    {"$distinct_id": None, "$properties": {"$email": "a@b.c", "$phone": ["1"], "$timezone": ""}},
]


def _body(results_json: list[str]) -> bytes:
    head = '{"page": 0, "page_size": 1000, "session_id": "s1", "status": "ok", "total": 9'
    return f'{head}, "results": [{", ".join(results_json)}]}}'.encode()


def _as_values(record: dict[str, Any]) -> dict[str, Any]:
    properties = record["properties"]
    if isinstance(properties, msgspec.Raw):
        properties = msgspec.json.decode(properties)
    return {**record, "properties": properties}


@pytest.mark.parametrize(
    "results_json",
    [
        [profile_json(i, seed=7) for i in range(300)],  # the fake API's messy profiles
        [json.dumps(r) for r in ODD_RESULTS],
    ],
    ids=["fake-profiles", "odd-results"],
)
def test_raw_and_decoded_properties_give_the_same_records(results_json: list[str]) -> None:
    body = _body(results_json)
    decoded = shape_page(body, 0)
    raw = shape_page(body, 0, raw_properties=True)
    assert decoded is not None and raw is not None
    assert (raw.session_id, raw.page_size, raw.total) == ("s1", 1000, 9)
    assert all(isinstance(r["properties"], dict) for r in decoded.records)
    assert all(isinstance(r["properties"], msgspec.Raw) for r in raw.records)
    assert [_as_values(r) for r in raw.records] == list(decoded.records)
    assert [list(r) for r in raw.records] == [list(r) for r in decoded.records]  # column order


def test_odd_results_are_shaped_without_coercion() -> None:
    page = shape_page(_body([json.dumps(r) for r in ODD_RESULTS]), 0, raw_properties=True)
    assert page is not None
    first, _, null_props, list_props, no_id, null_id = page.records
    assert (first["distinct_id"], first["email"], first["created"]) == ("42", None, None)
    assert null_props["properties"] is EMPTY_OBJECT and list_props["properties"] is EMPTY_OBJECT
    assert (no_id["distinct_id"], no_id["city"]) == ("", "Zürich")
    assert no_id["last_seen"] == "2024-06-09T21:08:40Z"
    assert (null_id["distinct_id"], null_id["phone"], null_id["timezone"]) == ("None", None, "")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"unexpected": true}', b'{"results": {"a": 1}}', b'{"results": [1, 2]}'],
)
def test_a_body_that_is_not_a_page_is_refused_in_both_modes(body: bytes) -> None:
    assert shape_page(body, 0) is None
    assert shape_page(body, 0, raw_properties=True) is None


def test_a_body_with_line_breaks_is_decoded_even_in_raw_mode() -> None:
    results = [json.loads(profile_json(i, seed=3)) for i in range(5)]
    head = {"page": 0, "page_size": 1000, "session_id": "s"}
    pretty = json.dumps({**head, "results": results}, indent=2).encode()
    compact = _body([profile_json(i, seed=3) for i in range(5)])
    raw_page, decoded = shape_page(pretty, 0, raw_properties=True), shape_page(compact, 0)
    assert raw_page is not None and decoded is not None
    assert all(isinstance(r["properties"], dict) for r in raw_page.records)  # no Raw with \n
    assert list(raw_page.records) == list(decoded.records)
