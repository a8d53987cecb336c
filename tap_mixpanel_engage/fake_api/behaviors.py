"""Behaviors: event counts per profile that ``where`` can test (``behaviors["bought"] > 0``).

Mixpanel documents the parameter nowhere; what works in practice is a JSON list such as
``[{"window": "30d", "name": "bought", "event_selectors": [{"event": "Purchase"}]}]``. Here every
profile has a deterministic count from 0 to 3 for each behavior name (about one in four has 0),
whatever the window and selectors say. Like Mixpanel, a query with behaviors but without
``as_of_timestamp`` answers page 0 and then refuses later pages ("uncached query").
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from tap_mixpanel_engage.fake_api.errors import ApiError

UNCACHED = "request for page in uncached query for params"


def behavior_count(name: str, index: int) -> int:
    """How often profile ``index`` did behavior ``name``: 0 to 3, the same in every process."""
    return hash((zlib.crc32(name.encode()), index)) % 4  # int tuples hash alike everywhere


def behavior_names(params: Mapping[str, Any]) -> frozenset[str] | None:
    """The names the query's ``behaviors`` define; None without behaviors.

    Raises:
        ApiError: 400 for a ``behaviors`` value that is not a list of named objects.
    """
    raw = params.get("behaviors")
    if raw in (None, ""):
        return None
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"invalid behaviors: not JSON ({exc.msg})") from None
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in items
    ):
        raise ApiError(400, 'invalid behaviors: expected [{"name": ..., "window": ...}, ...]')
    return frozenset(item["name"] for item in items)


def lookup(defined: frozenset[str] | None) -> Callable[[int, str], Any] | None:
    """``behavior(index, name)`` for :func:`tap_mixpanel_engage.fake_api.where.select`."""
    if not defined:
        return None
    return lambda index, name: behavior_count(name, index)


def check_page(params: Mapping[str, Any], page: int) -> None:
    """Refuse later pages of a query with behaviors but no ``as_of_timestamp``, as Mixpanel does.

    Raises:
        ApiError: 400 "request for page in uncached query for params", or a bad timestamp.
    """
    if params.get("behaviors") in (None, ""):
        return
    as_of = params.get("as_of_timestamp")
    if as_of in (None, ""):
        if page > 0:
            raise ApiError(400, UNCACHED)
        return
    if isinstance(as_of, bool) or not str(as_of).isdigit():
        raise ApiError(400, "invalid as_of_timestamp: expected Unix seconds")
