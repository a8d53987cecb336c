"""The fake's profiles: deterministic to the byte, unique ids, and as messy as real projects."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

from tap_mixpanel_engage.fake_api import distinct_id_of, make_profile, profile_json
from tap_mixpanel_engage.fake_api.profiles import GENERATED_UNTIL, last_seen_of

DIGEST_SNIPPET = (
    "import hashlib, json\n"
    "from tap_mixpanel_engage.fake_api import make_profile\n"
    "blob = json.dumps([make_profile(i, 7) for i in range(300)]).encode()\n"
    "print(hashlib.sha256(blob).hexdigest())\n"
)


def _props(n: int, seed: int = 3) -> list[dict[str, Any]]:
    return [make_profile(i, seed)["$properties"] for i in range(n)]


def test_same_seed_gives_the_same_bytes_in_this_process() -> None:
    first = json.dumps([make_profile(i, 11) for i in range(500)])
    second = json.dumps([make_profile(i, 11) for i in range(500)])
    assert first == second
    assert first != json.dumps([make_profile(i, 12) for i in range(500)])


def test_same_seed_gives_the_same_bytes_across_processes_with_different_hash_seeds() -> None:
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", DIGEST_SNIPPET], env=env, capture_output=True, check=True
        )
        digests.add(out.stdout.decode().strip())
    local = hashlib.sha256(json.dumps([make_profile(i, 7) for i in range(300)]).encode())
    assert digests == {local.hexdigest()}


def test_fast_json_path_equals_json_dumps_of_make_profile() -> None:
    for i in range(2000):
        assert profile_json(i, 5) == json.dumps(make_profile(i, 5))
    only = frozenset({"$email", "plan", "missing"})
    expected = make_profile(9, 5)
    expected["$properties"] = {k: v for k, v in expected["$properties"].items() if k in only}
    assert profile_json(9, 5, only=only) == json.dumps(expected)


def test_distinct_ids_are_unique_and_varied() -> None:
    ids = [distinct_id_of(i, 1) for i in range(50_000)]
    assert len(set(ids)) == 50_000
    assert [make_profile(i, 1)["$distinct_id"] for i in range(100)] == ids[:100]
    kinds = Counter(
        "email"
        if "@" in d
        else "device"
        if d.startswith("$device:")
        else "digits"
        if d.isdigit()
        else "uuid"
        for d in ids
    )
    assert set(kinds) == {"email", "device", "digits", "uuid"}
    assert all(n > 1000 for n in kinds.values())


def test_make_profile_returns_a_fresh_object() -> None:
    a = make_profile(4, 2)
    a["$properties"]["preferences"]["theme"] = "mutated"
    a["$properties"]["tags"].append("mutated")
    assert make_profile(4, 2) != a
    assert json.dumps(make_profile(4, 2)) == profile_json(4, 2)


def test_dates_are_naive_iso_and_last_seen_is_not_before_created() -> None:
    props = _props(3000)
    for p in props:
        seen = p["$last_seen"]
        assert len(seen) == 19 and seen[10] == "T" and seen < GENERATED_UNTIL.isoformat()
        if p["$created"] != "":
            assert p["$created"] <= seen
    assert [last_seen_of(i, 3) for i in range(3000)] == [p["$last_seen"] for p in props]


def test_profiles_are_realistically_messy() -> None:
    props = _props(5000)
    n = len(props)
    sizes = [len(p) for p in props]
    assert 20 <= sum(sizes) / n <= 30
    emails = Counter(type(p.get("$email")).__name__ for p in props)
    assert 0.005 < emails["int"] / n < 0.06  # e.g. "$email": 42
    assert 0.005 < sum(p["$created"] == "" for p in props) / n < 0.06
    seat_types = {type(p["plan_seats"]) for p in props}
    assert seat_types == {int, str, float}  # type drift: 3, "3 seats", 3.0
    assert any(isinstance(p["lifetime_value"], float) for p in props)
    assert {type(p["is_verified"]) for p in props} == {bool}
    assert any(isinstance(p["tags"], list) and p["tags"] for p in props)
    assert any(isinstance(p["preferences"]["notifications"], dict) for p in props)
    assert 0.1 < sum("Plan" in p for p in props) / n < 0.5  # differs from "plan" only by case
    for sparse in ("utm source", "company", 'it\'s "quoted"', "referrer"):
        share = sum(sparse in p for p in props) / n
        assert 0.02 < share < 0.9, sparse
    assert all("app.version" in p for p in props)
    text = json.dumps(props, ensure_ascii=False)
    for sample in ("🚀", "数据", "é", "東京"):
        assert sample in text
    assert any(p["nickname"] == "" for p in props)
    reserved = {"$email", "$name", "$first_name", "$last_name", "$phone", "$city", "$region"}
    reserved |= {"$country_code", "$timezone", "$created", "$last_seen"}
    assert reserved <= set().union(*props)
