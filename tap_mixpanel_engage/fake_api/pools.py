"""Per-seed value pools and hashing behind the fake's profiles, built once per seed.

Instead of seeding a ``random.Random`` per profile (~8 us each), every profile draws its choices
from a 256-bit tabulation hash of ``(seed, index)`` and picks values from these pools, whose JSON
text is encoded once. See :mod:`tap_mixpanel_engage.fake_api.profiles`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
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
DOMAINS = ["example.com", "example.org", "mail.example.net", "EXAMPLE.com"]


def affine32(index: int, salt: int) -> int:
    """A bijection on 32-bit ints (odd multiplier), so ids derived from it are unique per index."""
    return (index * 0x9E3779B1 + salt) & M32


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


def iso(seconds: int) -> str:
    """Naive ISO timestamp, as Mixpanel returns dates (``2024-06-09T23:08:40``)."""
    hours, minutes = _clock_faces()
    r = seconds % 86400
    return f"{_dates()[seconds // 86400]}T{hours[r // 3600]}:{minutes[r % 3600]}"


@dataclass(frozen=True)
class Tail:
    """A pre-joined run of the non-identity properties; 4096 of them per seed give variety."""

    parts: list[Part]
    text: str


@dataclass(frozen=True)
class Pools:
    """Per-seed pools: one byte (or 12 bits for tails) of a profile's hash picks one entry."""

    salt: int
    table: tuple[list[int], ...]  # tabulation hashing: one 192-bit word per byte value
    people: list[tuple[str, str, tuple[Part, ...]]]  # (id prefix, its JSON, name parts)
    places: list[tuple[Part, ...]]
    phones: list[Part]
    tails: list[Tail]


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


def _tail(rng: random.Random) -> Tail:
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
    return Tail(parts, ", ".join(p[2] for p in parts))


_POOLS: dict[int, Pools] = {}
_POOLS_LOCK = threading.Lock()


def prepare(seed: int) -> None:
    """Build the pools for ``seed`` now (~0.2 s), so the first request does not pay for it."""
    pools_for(seed)


def pools_for(seed: int) -> Pools:
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


def _build_pools(seed: int) -> Pools:
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
    return Pools(
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


def profile_hash(index: int, table: tuple[list[int], ...]) -> int:
    """192 well-mixed bits for ``index`` (tabulation hashing: four lookups, no big multiplies)."""
    if not 0 <= index <= M32:
        raise ValueError(f"profile index out of range: {index}")
    t0, t1, t2, t3 = table
    return t0[index & 255] ^ t1[(index >> 8) & 255] ^ t2[(index >> 16) & 255] ^ t3[index >> 24]


def timestamps(w0: int) -> tuple[int, int]:
    """(created, last_seen) in seconds since 2019-01-01, from the first hash word only."""
    created = (w0 & M32) % _SPAN
    return created, created + (w0 >> 32) % (_SPAN - created)
