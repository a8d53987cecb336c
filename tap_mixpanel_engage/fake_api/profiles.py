"""Deterministic, realistically messy Mixpanel user profiles.

A profile is a pure function of ``(index, seed)``. Speed matters (the fake must serve well over
50k profiles/s from one Python process), so instead of seeding a ``random.Random`` per profile
(~8 us each) every profile draws its choices from a 256-bit splitmix64 hash of ``(seed, index)``
and picks values from per-seed pools whose JSON text is encoded once. Serving a profile is then
mostly string joins; ``make_profile`` builds the equivalent dict for tests and tools.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_EPOCH = dt.datetime(2019, 1, 1)
#: Every generated ``$created``/``$last_seen`` is before this instant; ``touch`` stamps after it.
GENERATED_UNTIL = dt.datetime(2025, 7, 1)
_SPAN = int((GENERATED_UNTIL - _EPOCH).total_seconds())

# One entry is (property name, value, pre-encoded '"name": value' JSON fragment).
Part = tuple[str, Any, str]

_FIRST = ["María", "José", "Zoë", "Léa", "Renée", "John", "Aisha", "Wei", "Yuki", "Olga"]
_FIRST += ["Sam", "Priya", "Ömer", "Chloé", "Liam", "Noah", "Emma", "Søren", "Ana", "Kenji"]
_FIRST += ["李", "Ngozi"]
_LAST = ["García", "Müller", "Smith", "O'Brien", "Nguyen", "Kowalski", "Tanaka", "Dubois"]
_LAST += ["王", "Rossi", "Johansson", "Silva", "Khan", "Ivanova", "Brown", "Cohen", "Mbeki"]
_LAST += ["Lee"]
_PLACES = [
    ("San Francisco", "California", "US", "America/Los_Angeles"),
    ("New York", "New York", "US", "America/New_York"),
    ("London", "England", "GB", "Europe/London"),
    ("Paris", "Île-de-France", "FR", "Europe/Paris"),
    ("Berlin", "Berlin", "DE", "Europe/Berlin"),
    ("São Paulo", "São Paulo", "BR", "America/Sao_Paulo"),
    ("東京", "東京都", "JP", "Asia/Tokyo"),
    ("Bengaluru", "Karnataka", "IN", "Asia/Kolkata"),
    ("Zürich", "Zürich", "CH", "Europe/Zurich"),
    ("Lagos", "Lagos", "NG", "Africa/Lagos"),
    ("Sydney", "New South Wales", "AU", "Australia/Sydney"),
    ("Kraków", "Lesser Poland", "PL", "Europe/Warsaw"),
]
_NICKS = ["", "🚀 rocket", "naïve café", "数据工程师", "Ça va?", "tab\there", "line\nbreak"]
_NICKS += ["emoji 🎉🎉", "ñandú", "   ", "Ελληνικά", "עברית", "crème brûlée", "x"]
_TAGS = ["beta", "vip", "churn-risk", "trial", "☕", "enterprise", "Beta", ""]
_SOURCES = ["google", "newsletter", "twitter", "", "Google", "partner:acme", "référence"]
_DOMAINS = ["example.com", "example.org", "mail.example.net", "EXAMPLE.com"]


def _affine32(index: int, salt: int) -> int:
    """A bijection on 32-bit ints (odd multiplier), so ids derived from it are unique per index."""
    return (index * 0x9E3779B1 + salt) & _M32


def _fragment(name: str, value: Any) -> Part:
    """Encode once, with ``json.dumps`` defaults, so joined fragments equal ``json.dumps(dict)``."""
    return (name, value, f"{json.dumps(name)}: {json.dumps(value)}")


@lru_cache(maxsize=1)
def _dates() -> list[str]:
    """Every calendar day in the generated span, formatted once (timestamps are hot)."""
    return [(_EPOCH + dt.timedelta(days=d)).date().isoformat() for d in range(_SPAN // 86400 + 2)]


@lru_cache(maxsize=1)
def _clock_faces() -> tuple[list[str], list[str]]:
    """("HH" for each hour, "MM:SS" for each second of an hour)."""
    return [f"{h:02d}" for h in range(24)], [f"{s // 60:02d}:{s % 60:02d}" for s in range(3600)]


def _iso(seconds: int) -> str:
    """Naive ISO timestamp, as Mixpanel returns dates (``2024-06-09T23:08:40``)."""
    hours, minutes = _clock_faces()
    r = seconds % 86400
    return f"{_dates()[seconds // 86400]}T{hours[r // 3600]}:{minutes[r % 3600]}"


def iso_after_generated(offset_seconds: int) -> str:
    """A timestamp later than every generated one (for ``touch``)."""
    return (GENERATED_UNTIL + dt.timedelta(seconds=offset_seconds)).isoformat()


@dataclass(frozen=True)
class _Tail:
    """A pre-joined run of the non-identity properties; 4096 of them per seed give variety."""

    parts: list[Part]
    text: str


@dataclass(frozen=True)
class _Pools:
    """Per-seed pools: one byte (or 12 bits for tails) of a profile's hash picks one entry."""

    salt: int
    table: tuple[list[int], ...]  # tabulation hashing: one 192-bit word per byte value
    people: list[tuple[str, str, tuple[Part, ...]]]  # (id prefix, its JSON, name parts)
    places: list[tuple[Part, ...]]
    phones: list[Part]
    tails: list[_Tail]


def _phone(rng: random.Random) -> Part:
    n = rng.randrange(2_000_000_000, 9_999_999_999)
    style = rng.randrange(4)
    value: Any = (
        f"+1 {n // 10**7}-{n // 10**4 % 1000:03d}-{n % 10**4:04d}"
        if style == 0
        else f"({n // 10**7:03d}) {n % 10**7:07d}"
        if style == 1
        else n  # a number, not a string: Mixpanel keeps whatever type the SDK sent
        if style == 2
        else ""
    )
    return _fragment("$phone", value)


def _tail(rng: random.Random) -> _Tail:
    """Plan, type-drifting seats, floats, booleans, lists, nested objects, odd names, sparsity."""
    plan = rng.choice(["free", "pro", "enterprise", "Pro", "team"])
    seats = rng.randrange(1, 200)
    props: dict[str, Any] = {"plan": plan}
    if rng.random() < 0.25:
        props["Plan"] = plan.upper() if rng.random() < 0.5 else plan  # differs only by case
    roll = rng.random()
    props["plan_seats"] = seats if roll < 0.6 else f"{seats} seats" if roll < 0.9 else float(seats)
    props["lifetime_value"] = round(rng.uniform(0, 5000) * 4) / 4
    props["is_verified"] = rng.random() < 0.5
    props["login_count"] = rng.randrange(0, 5000)
    props["tags"] = rng.sample(_TAGS, rng.randrange(0, 4))
    prefs: dict[str, Any] = {
        "theme": rng.choice(["dark", "light", None]),
        "notifications": {"email": rng.random() < 0.5, "push": rng.random() < 0.3},
    }
    if rng.random() < 0.3:
        prefs["languages"] = rng.sample(["en", "fr", "ja", "pt-BR", "zh-Hans"], 2)
    props["preferences"] = prefs
    props["nickname"] = rng.choice(_NICKS)
    if rng.random() < 0.5:
        props["utm source"] = rng.choice(_SOURCES)
    props["app.version"] = f"{rng.randrange(1, 6)}.{rng.randrange(20)}.{rng.randrange(9)}"
    if rng.random() < 0.12:
        props['it\'s "quoted"'] = rng.choice(["yes", 'it\'s "fine"', 0, None, "\\back\\slash"])
    if rng.random() < 0.4:
        props["company"] = rng.choice(["Acme", "Initech", "株式会社", "", "Umbrella"])
    props["engagement_ratio"] = rng.randrange(0, 1 << 16) / 64
    if rng.random() < 0.1:
        props["referrer"] = None
    props["$os"] = rng.choice(["iOS", "Android", "Mac OS X", "Windows"])
    parts = [_fragment(k, v) for k, v in props.items()]
    return _Tail(parts, ", ".join(p[2] for p in parts))


_POOLS: dict[int, _Pools] = {}
_POOLS_LOCK = threading.Lock()


def prepare(seed: int) -> None:
    """Build the pools for ``seed`` now (~0.2 s), so the first request does not pay for it."""
    _pools(seed)


def _pools(seed: int) -> _Pools:
    """Per-seed pools, built once even when many server threads ask at the same moment."""
    pools = _POOLS.get(seed)
    if pools is None:
        with _POOLS_LOCK:
            pools = _POOLS.get(seed)
            if pools is None:
                if len(_POOLS) >= 8:
                    _POOLS.clear()  # bounded: only tests cycle through many seeds
                pools = _POOLS[seed] = _build_pools(seed)
    return pools


def _build_pools(seed: int) -> _Pools:
    rng = random.Random(f"pools:{seed}")
    people: list[tuple[str, str, tuple[Part, ...]]] = []
    for _ in range(256):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        prefix = f"{first}.{last}.".lower().replace(" ", "")
        names = (
            _fragment("$first_name", first),
            _fragment("$last_name", last),
            _fragment("$name", f"{first} {last}"),
        )
        people.append((prefix, json.dumps(prefix)[:-1], names))
    return _Pools(
        salt=rng.getrandbits(32),
        table=tuple([rng.getrandbits(192) for _ in range(256)] for _ in range(4)),
        people=people,
        places=[
            tuple(
                _fragment(k, v)
                for k, v in zip(
                    ("$city", "$region", "$country_code", "$timezone"), place, strict=True
                )
            )
            for place in (rng.choice(_PLACES) for _ in range(256))
        ],
        phones=[_phone(rng) for _ in range(256)],
        tails=[_tail(rng) for _ in range(4096)],
    )


def _hash(index: int, table: tuple[list[int], ...]) -> int:
    """192 well-mixed bits for ``index`` (tabulation hashing: four lookups, no big multiplies)."""
    if not 0 <= index <= _M32:
        raise ValueError(f"profile index out of range: {index}")
    t0, t1, t2, t3 = table
    return t0[index & 255] ^ t1[(index >> 8) & 255] ^ t2[(index >> 16) & 255] ^ t3[index >> 24]


def _timestamps(w0: int) -> tuple[int, int]:
    """(created, last_seen) in seconds since 2019-01-01, from the first hash word only."""
    created = (w0 & _M32) % _SPAN
    return created, created + (w0 >> 32) % (_SPAN - created)


def last_seen_of(index: int, seed: int) -> str:
    """The generated ``$last_seen`` of one profile without generating the rest (the fast path)."""
    return _iso(_timestamps(_hash(index, _pools(seed).table) & _M64)[1])


def _identity(index: int, w1: int, pools: _Pools) -> tuple[str, str]:
    """(distinct_id, its JSON): email-, uuid-, device- or digit-like, unique via the scramble."""
    u = _affine32(index, pools.salt)
    kind = (w1 >> 8) & 15
    if kind < 6:
        prefix, prefix_json, _ = pools.people[w1 & 255]
        dom = _DOMAINS[(w1 >> 12) & 3]
        return f"{prefix}{u:x}@{dom}", f'{prefix_json}{u:x}@{dom}"'
    h = f"{w1 >> 64:016x}"
    uid = f"{h[:8]}-{h[8:12]}-4{h[13:]}-{u >> 16:04x}-{u & 0xFFFF:04x}{(w1 >> 8) & _M32:08x}"
    if kind < 12:
        return uid, f'"{uid}"'
    if kind < 15:
        return f"$device:{uid}", f'"$device:{uid}"'
    digits = str(1_000_000_000 + u * 3)
    return digits, f'"{digits}"'


def _layout(index: int, seed: int, last_seen: str | None) -> tuple[str, str, list[Part], _Tail]:
    """(distinct_id, its JSON, identity/location/date parts, shared tail) of one profile."""
    pools = _pools(seed)
    h = _hash(index, pools.table)
    w0 = h & _M64
    w1 = h >> 64
    distinct_id, id_json = _identity(index, w1, pools)
    parts: list[Part] = []
    r = (w1 >> 16) & 255
    if r < 8:
        parts.append(("$email", 42, '"$email": 42'))  # wrong type, as seen in real projects
    elif r < 20:
        parts.append(("$email", "", '"$email": ""'))
    elif r < 240:
        if "@" in distinct_id:
            parts.append(("$email", distinct_id, f'"$email": {id_json}'))
        else:
            email = f"user{index}@example.com"
            parts.append(("$email", email, f'"$email": "{email}"'))
    first, last, full = pools.people[w1 & 255][2]
    parts += (first, last, full) if (w1 >> 24) & 255 < 230 else (first, last)
    parts.append(pools.phones[(w1 >> 32) & 255])
    parts += pools.places[(w1 >> 40) & 255]
    created_s, seen_s = _timestamps(w0)
    if (w1 >> 48) & 255 < 10:
        parts.append(("$created", "", '"$created": ""'))
    else:
        created = _iso(created_s)
        parts.append(("$created", created, f'"$created": "{created}"'))
    seen = _iso(seen_s) if last_seen is None else last_seen
    parts.append(("$last_seen", seen, f'"$last_seen": "{seen}"'))
    return distinct_id, id_json, parts, pools.tails[(w1 >> 56) & 4095]


def distinct_id_of(index: int, seed: int) -> str:
    """The ``$distinct_id`` of one profile."""
    pools = _pools(seed)
    return _identity(index, _hash(index, pools.table) >> 64, pools)[0]


def make_profile(index: int, seed: int, last_seen: str | None = None) -> dict[str, Any]:
    """One profile as the Engage API returns it: ``{"$distinct_id": ..., "$properties": {...}}``.

    Pure: the same ``(index, seed)`` always gives equal values and equal ``json.dumps`` bytes, and
    the result is a fresh object the caller may mutate. ``last_seen`` replaces ``$last_seen``.
    """
    distinct_id, _, parts, tail = _layout(index, seed, last_seen)
    props = {name: copy.deepcopy(value) for name, value, _ in parts}
    props.update((name, copy.deepcopy(value)) for name, value, _ in tail.parts)
    return {"$distinct_id": distinct_id, "$properties": props}


def profile_json(
    index: int, seed: int, last_seen: str | None = None, only: frozenset[str] | None = None
) -> str:
    """``json.dumps(make_profile(index, seed, last_seen))``, built from cached fragments.

    Args:
        only: keep just these property names (``output_properties``).
    """
    _, id_json, parts, tail = _layout(index, seed, last_seen)
    if only is None:
        body = ", ".join([p[2] for p in parts])
        body = f"{body}, {tail.text}"
    else:
        body = ", ".join([p[2] for p in (*parts, *tail.parts) if p[0] in only])
    return f'{{"$distinct_id": {id_json}, "$properties": {{{body}}}}}'


def raw_properties(index: int, seed: int, last_seen: str | None = None) -> dict[str, Any]:
    """The ``$properties`` of one profile without copying shared values: treat as read-only."""
    _, _, parts, tail = _layout(index, seed, last_seen)
    props = {name: value for name, value, _ in parts}
    props.update((name, value) for name, value, _ in tail.parts)
    return props
