"""The Engage query itself, without HTTP: selecting profiles, sessions, and rendering pages.

Kept apart from the server so the query rules (what page 0 snapshots, what later pages may ask,
when a session has expired) read in one place and can be driven without sockets.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tap_mixpanel_engage.fake_api.errors import ApiError
from tap_mixpanel_engage.fake_api.profiles import (
    distinct_id_of,
    iso_after_generated,
    last_seen_of,
    prepare,
    profile_json,
    raw_properties,
)
from tap_mixpanel_engage.fake_api.sessions import Sessions
from tap_mixpanel_engage.fake_api.settings import FakeSettings
from tap_mixpanel_engage.fake_api.where import MISSING, Node, WhereError, parse_where, select

Params = Mapping[str, Any]  # a query's parameters, as the server merged them


def in_cohort(cohort_id: int, index: int) -> bool:
    """Deterministic cohort membership: about one profile in three per cohort."""
    return hash((cohort_id, index)) % 3 == 0  # int tuples hash the same in every process


class ProfileStore:
    """The profile population: generated on demand, plus ``touch`` overrides of ``$last_seen``.

    ``$last_seen`` is precomputed per index on first use (``where`` on it must be fast for 200k
    profiles); other properties are evaluated by generating the profile. With
    ``growth_per_second`` the project gains profiles as the clock runs: new ones get the next
    indices, a ``$last_seen`` after every generated one, and a place at the end of the order or,
    with ``growth_at="start"``, before every other profile.
    """

    def __init__(self, settings: FakeSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.seed = settings.seed
        self.count = settings.profiles
        self._initial = settings.profiles
        self._growth = settings.growth_per_second
        self._growth_first = settings.growth_at == "start"
        self._clock = clock
        self._born = clock()
        self._lock = threading.Lock()
        self._overrides: dict[int, str] = {}
        self._last_seen: list[str] | None = None
        self._ids: dict[str, int] | None = None
        self._touch_rounds = 0
        self._rendered: dict[int, str] = {}
        """Each profile's JSON once built: a benchmark then measures the client, not this."""
        prepare(self.seed)

    def _grow(self) -> None:
        """Add the profiles the project has gained by now (call with the lock held)."""
        if not self._growth:
            return
        elapsed = self._clock() - self._born
        target = self._initial + int(self._growth * elapsed)
        if target <= self.count:
            return
        stamp = iso_after_generated(int(elapsed) + 1)
        for i in range(self.count, target):
            self._overrides[i] = stamp
            if self._last_seen is not None:
                self._last_seen.append(stamp)
            if self._ids is not None:
                self._ids[distinct_id_of(i, self.seed)] = i
        self.count = target

    def order(self) -> Sequence[int]:
        """Every profile index, in the order the API returns them."""
        with self._lock:
            self._grow()
            count = self.count
        if self._growth_first and count > self._initial:
            return [*range(count - 1, self._initial - 1, -1), *range(self._initial)]
        return range(count)

    def last_seen_column(self) -> list[str]:
        with self._lock:
            self._grow()
            if self._last_seen is None:
                column = [last_seen_of(i, self.seed) for i in range(self.count)]
                for i, stamp in self._overrides.items():
                    column[i] = stamp
                self._last_seen = column
            return self._last_seen

    def value(self, index: int, name: str) -> Any:
        props = raw_properties(index, self.seed, self._overrides.get(index))
        return props.get(name, MISSING)

    def column(self, name: str) -> Sequence[Any] | None:
        return self.last_seen_column() if name == "$last_seen" else None

    def render(self, index: int, only: frozenset[str] | None) -> str:
        if only is not None:
            return profile_json(index, self.seed, self._overrides.get(index), only)
        text = self._rendered.get(index)
        if text is None:
            text = profile_json(index, self.seed, self._overrides.get(index))
            self._rendered[index] = text
        return text

    def warm(self) -> None:
        """Build every profile's JSON now, so the first export is served as fast as later ones
        (a benchmark then measures the client from its first run, not the fake's generator)."""
        for index in range(self.count):
            self.render(index, None)

    def index_of(self, distinct_id: str) -> int | None:
        with self._lock:
            self._grow()
            if self._ids is None:
                self._ids = {distinct_id_of(i, self.seed): i for i in range(self.count)}
            return self._ids.get(distinct_id)

    def touch(self, n: int) -> list[str]:
        """Give ``n`` seeded-random profiles a ``$last_seen`` newer than any before; their ids."""
        with self._lock:
            self._grow()
            self._touch_rounds += 1
            rng = random.Random(f"touch:{self.seed}:{self._touch_rounds}")
            chosen = sorted(rng.sample(range(self.count), min(max(n, 0), self.count)))
            stamp = iso_after_generated(60 * self._touch_rounds)
            for i in chosen:
                self._overrides[i] = stamp
                self._rendered.pop(i, None)
                if self._last_seen is not None:
                    self._last_seen[i] = stamp
        return [distinct_id_of(i, self.seed) for i in chosen]

    def select(
        self,
        where: Node | None,
        cohort_id: int | None,
        ids: list[str] | None,
        params: Params | None = None,
    ) -> Sequence[int]:
        """Matching indices in the API's order (``range`` when nothing filters: no copy).

        ``params`` (the whole query) is for the hooks subclasses override: :meth:`live`,
        :meth:`members`, :meth:`behavior`."""
        params = params or {}
        behavior = self.behavior(where, params)
        candidates: Sequence[int] = self.live(self.order())
        if ids is not None:
            found = (self.index_of(d) for d in ids)
            candidates = sorted({i for i in found if i is not None})
        if cohort_id is not None:
            candidates = self.members(cohort_id, candidates, params)
        if where is not None:
            candidates = select(where, candidates, self.value, self.column, behavior)
        return candidates

    def live(self, candidates: Sequence[int]) -> Sequence[int]:
        """The candidates that still exist (all of them here)."""
        return candidates

    def members(self, cohort_id: int, candidates: Sequence[int], params: Params) -> list[int]:
        """The candidates in ``cohort_id`` (the fake's membership rule)."""
        return [i for i in candidates if in_cohort(cohort_id, i)]

    def behavior(self, where: Node | None, params: Params) -> Callable[[int, str], Any] | None:
        """How ``where`` reads ``behaviors["name"]`` (not at all here)."""
        return None

    def scoped(self, params: Params) -> ProfileStore:
        """The store that answers this query: this one (a subclass adds group keys)."""
        return self


def _int(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ApiError(400, f"invalid {name}: must be an integer")
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"invalid {name}: must be an integer") from None


def _json(params: dict[str, Any], name: str) -> Any:
    raw = params.get(name)
    if not isinstance(raw, str):
        return raw
    if raw == "":
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"invalid {name}: not JSON ({exc.msg})") from None


def requested_page(params: dict[str, Any]) -> int:
    page = _int(params, "page", 0)
    if page < 0:
        raise ApiError(400, "invalid page: must be >= 0")
    return page


def _open_query(store: ProfileStore, params: dict[str, Any]) -> Sequence[int]:
    where: Node | None = None
    text = params.get("where")
    if text not in (None, ""):
        try:
            where = parse_where(str(text))
        except WhereError as exc:
            raise ApiError(400, f"invalid where expression: {exc}") from None
    cohort = _json(params, "filter_by_cohort")
    cohort_id: int | None = None
    if cohort is not None:
        raw_id = cohort.get("id") if isinstance(cohort, dict) else None
        if isinstance(raw_id, str) and raw_id.isdigit():
            raw_id = int(raw_id)
        if not isinstance(raw_id, int) or isinstance(raw_id, bool):
            raise ApiError(400, 'invalid filter_by_cohort: expected {"id": <cohort id>}')
        cohort_id = raw_id
    ids = _json(params, "distinct_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(d, str) for d in ids)):
        raise ApiError(400, "invalid distinct_ids: expected a JSON array of strings")
    single = params.get("distinct_id")
    if single not in (None, ""):
        ids = [*(ids or []), str(single)]
    return store.select(where, cohort_id, ids, params)


def run_query(
    store: ProfileStore, sessions: Sessions, settings: FakeSettings, params: dict[str, Any]
) -> tuple[bytes, int, int, bool]:
    """Answer one Engage request: (body, page, profiles in it, whether it opened a session)."""
    store = store.scoped(params)
    page = requested_page(params)
    only: frozenset[str] | None = None
    wanted = _json(params, "output_properties")
    if wanted is not None:
        if not (isinstance(wanted, list) and all(isinstance(n, str) for n in wanted)):
            raise ApiError(400, "invalid output_properties: expected a JSON array of names")
        only = frozenset(wanted)
    session_id = params.get("session_id")
    opened = session_id in (None, "")
    if opened:
        if page > 0:
            raise ApiError(400, "page > 0 requires a session_id from page 0 of this query")
        size = _int(params, "page_size", settings.page_size_default)
        if size < 1:
            raise ApiError(400, "invalid page_size: must be >= 1")
        size = min(size, settings.page_size_max)
        session = sessions.open(_open_query(store, params), size)
    else:
        session = sessions.get(str(session_id))
        size = min(max(_int(params, "page_size", session.page_size), 1), settings.page_size_max)
    chosen = session.indices[page * size : (page + 1) * size]
    head: dict[str, Any] = {
        "page": page,
        "page_size": size,
        "session_id": session.session_id,
        "status": "ok",
    }
    if page == 0:
        head["total"] = len(session.indices)
    rows = ", ".join([store.render(i, only) for i in chosen])
    body = f'{json.dumps(head)[:-1]}, "results": [{rows}]}}'
    return body.encode(), page, len(chosen), opened
