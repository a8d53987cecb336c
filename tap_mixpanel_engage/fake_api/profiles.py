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
from typing import Any

from tap_mixpanel_engage.fake_api.pools import (
    DOMAINS,
    GENERATED_UNTIL,
    M32,
    M64,
    Part,
    Pools,
    Tail,
    affine32,
    iso,
    pools_for,
    prepare,
    profile_hash,
    timestamps,
)

__all__ = [
    "GENERATED_UNTIL",
    "distinct_id_of",
    "iso_after_generated",
    "last_seen_of",
    "make_profile",
    "prepare",
    "profile_json",
    "raw_properties",
]


def iso_after_generated(offset_seconds: int) -> str:
    """A timestamp later than every generated one (for ``touch``)."""
    return (GENERATED_UNTIL + dt.timedelta(seconds=offset_seconds)).isoformat()


def last_seen_of(index: int, seed: int) -> str:
    """The generated ``$last_seen`` of one profile without generating the rest (the fast path)."""
    return iso(timestamps(profile_hash(index, pools_for(seed).table) & M64)[1])


def _identity(index: int, w1: int, pools: Pools) -> tuple[str, str]:
    """(distinct_id, its JSON): email-, uuid-, device- or digit-like, unique via the scramble."""
    u = affine32(index, pools.salt)
    kind = (w1 >> 8) & 15
    if kind < 6:
        prefix, prefix_json, _ = pools.people[w1 & 255]
        dom = DOMAINS[(w1 >> 12) & 3]
        return f"{prefix}{u:x}@{dom}", f'{prefix_json}{u:x}@{dom}"'
    h = f"{w1 >> 64:016x}"
    uid = f"{h[:8]}-{h[8:12]}-4{h[13:]}-{u >> 16:04x}-{u & 0xFFFF:04x}{(w1 >> 8) & M32:08x}"
    if kind < 12:
        return uid, f'"{uid}"'
    if kind < 15:
        return f"$device:{uid}", f'"$device:{uid}"'
    digits = str(1_000_000_000 + u * 3)
    return digits, f'"{digits}"'


def _layout(index: int, seed: int, last_seen: str | None) -> tuple[str, str, list[Part], Tail]:
    """(distinct_id, its JSON, identity/location/date parts, shared tail) of one profile."""
    pools = pools_for(seed)
    h = profile_hash(index, pools.table)
    w0 = h & M64
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
    created_s, seen_s = timestamps(w0)
    if (w1 >> 48) & 255 < 10:
        parts.append(("$created", "", '"$created": ""'))
    else:
        created = iso(created_s)
        parts.append(("$created", created, f'"$created": "{created}"'))
    seen = iso(seen_s) if last_seen is None else last_seen
    parts.append(("$last_seen", seen, f'"$last_seen": "{seen}"'))
    return distinct_id, id_json, parts, pools.tails[(w1 >> 56) & 4095]


def distinct_id_of(index: int, seed: int) -> str:
    """The ``$distinct_id`` of one profile."""
    pools = pools_for(seed)
    return _identity(index, profile_hash(index, pools.table) >> 64, pools)[0]


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
