"""Everything the fake serves: users, the group profiles of each group key, and the cohorts.

:class:`LiveStore` is a :class:`~tap_mixpanel_engage.fake_api.engine.ProfileStore` whose profiles
can be deleted and whose ``where`` may test behaviors. :class:`Population` is the users' store:
it adds cohort membership (members who left, deleted cohorts, members without a profile) and
hands a query with ``data_group_id`` to that group key's store. Group profiles are generated
like users (just as messy), from a seed of their own per group key.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tap_mixpanel_engage.fake_api.behaviors import behavior_names, check_page, lookup
from tap_mixpanel_engage.fake_api.cohorts import Cohorts
from tap_mixpanel_engage.fake_api.engine import Params, ProfileStore, requested_page
from tap_mixpanel_engage.fake_api.errors import ApiError
from tap_mixpanel_engage.fake_api.profiles import distinct_id_of
from tap_mixpanel_engage.fake_api.settings import FakeSettings
from tap_mixpanel_engage.fake_api.where import Node, names


class LiveStore(ProfileStore):
    """Profiles that can be deleted (they leave every answer), with behaviors for ``where``."""

    def __init__(self, settings: FakeSettings, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(settings, clock)
        self._gone: set[int] = set()
        self._gone_lock = threading.Lock()
        self._rounds = 0

    def distinct_id(self, index: int) -> str:
        """The ``$distinct_id`` of the profile at ``index``."""
        return distinct_id_of(index, self.seed)

    def live(self, candidates: Sequence[int]) -> Sequence[int]:
        """``candidates`` without deleted profiles (``range`` stays a range: no copy)."""
        with self._gone_lock:
            gone = set(self._gone)
        return [i for i in candidates if i not in gone] if gone else candidates

    def index_of(self, distinct_id: str) -> int | None:
        index = super().index_of(distinct_id)
        with self._gone_lock:
            return None if index in self._gone else index

    def delete(self, n: int) -> list[str]:
        """Delete ``n`` seeded-random live profiles; their ids."""
        live = list(self.live(range(self.count)))
        with self._gone_lock:
            self._rounds += 1
            rng = random.Random(f"delete:{self.seed}:{self._rounds}")
            chosen = sorted(rng.sample(live, min(max(n, 0), len(live))))
            self._gone.update(chosen)
        return [self.distinct_id(i) for i in chosen]

    def touch(self, n: int) -> list[str]:
        """As :meth:`ProfileStore.touch`; deleted profiles stay gone (and are not returned)."""
        return [d for d in super().touch(n) if self.index_of(d) is not None]

    def behavior(self, where: Node | None, params: Params) -> Callable[[int, str], Any] | None:
        """Counts for the behaviors the query defines; a 400 for any other ``where`` reads."""
        defined = behavior_names(params)
        if where is not None:
            undefined = names(where, "behaviors") - (defined or frozenset())
            if undefined:
                detail = f"behaviors {sorted(undefined)} are not defined by `behaviors`"
                raise ApiError(400, f"invalid where expression: {detail}")
        return lookup(defined)


class Population(LiveStore):
    """The users, plus cohorts and the group profiles of each group key (see the module)."""

    def __init__(self, settings: FakeSettings, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(settings, clock)
        self.settings = settings
        self.cohorts = Cohorts(settings)
        self._group_sizes = dict(settings.groups)
        self._groups: dict[str, LiveStore] = {}
        self._groups_lock = threading.Lock()

    def group(self, data_group_id: str) -> LiveStore:
        """The group profiles of one group key (built on first use).

        Raises:
            ApiError: 400 when the project has no such group key.
        """
        size = self._group_sizes.get(data_group_id)
        if size is None:
            raise ApiError(400, f"invalid data_group_id: no group key {data_group_id} in project")
        with self._groups_lock:
            store = self._groups.get(data_group_id)
            if store is None:
                seed = self.seed * 1_000_003 + zlib.crc32(data_group_id.encode())
                group = replace(self.settings, profiles=size, seed=seed, growth_per_second=0.0)
                store = LiveStore(group)
                self._groups[data_group_id] = store
        return store

    def scoped(self, params: Mapping[str, Any]) -> ProfileStore:
        """The store that answers this request: a group key's, or the users'.

        Raises:
            ApiError: an unknown group key, or a later page of an uncached behaviors query.
        """
        check_page(params, requested_page(dict(params)))
        group = params.get("data_group_id")
        if group in (None, ""):
            return self
        if params.get("filter_by_cohort") not in (None, ""):
            raise ApiError(400, "invalid filter_by_cohort: cohorts hold users, not groups")
        return self.group(str(group))

    def distinct_id(self, index: int) -> str:
        if index >= self.count:
            return f"ghost-{index - self.count}@no-profile.example"
        return super().distinct_id(index)

    def render(self, index: int, only: frozenset[str] | None) -> str:
        if index >= self.count:
            return json.dumps({"$distinct_id": self.distinct_id(index), "$properties": {}})
        return super().render(index, only)

    def members(self, cohort_id: int, candidates: Sequence[int], params: Params) -> list[int]:
        if params.get("behaviors") not in (None, ""):
            raise ApiError(400, "invalid behaviors: cannot be combined with filter_by_cohort")
        members = self.cohorts.members(cohort_id, candidates)
        include_all = str(params.get("include_all_users", "true")).lower() not in ("false", "0")
        if include_all and params.get("where") in (None, "") and "distinct_ids" not in params:
            members += self.cohorts.ghost_indices(cohort_id, self.count)
        return members

    def leave_cohort(self, cohort_id: int, n: int) -> list[str]:
        """``n`` seeded-random members (ghosts included) leave ``cohort_id``; their ids."""
        members = self.members(cohort_id, self.live(range(self.count)), {})
        rng = random.Random(f"leave:{self.seed}:{cohort_id}:{len(members)}")
        chosen = sorted(rng.sample(members, min(max(n, 0), len(members))))
        self.cohorts.leave(cohort_id, chosen)
        return [self.distinct_id(i) for i in chosen]

    def cohorts_list(self) -> bytes:
        """The Cohorts list answer, each count the cohort's current members."""

        def count(cohort_id: int) -> int:
            return len(self.members(cohort_id, self.live(range(self.count)), {}))

        return self.cohorts.list_json(count)


def admin_change(store: Population, path: str, params: Mapping[str, Any]) -> tuple[Any] | None:
    """Deletions over HTTP (``POST``); the answer in a 1-tuple, None for another path.

    ``/_fake/delete?count=N[&data_group_id=G]`` (the deleted ids),
    ``/_fake/leave?cohort_id=C&count=N`` (the ids that left),
    ``/_fake/delete_cohort?cohort_id=C`` (``{"deleted": C}``).
    """

    def number(name: str, default: int | None = None) -> int:
        raw = params.get(name, default)
        try:
            return int(str(raw))
        except ValueError:
            raise ApiError(400, f"{name} must be an integer") from None

    if path == "/_fake/delete":
        group = params.get("data_group_id")
        target = store if group in (None, "") else store.group(str(group))
        return (target.delete(number("count", 1)),)
    if path == "/_fake/leave":
        return (store.leave_cohort(number("cohort_id"), number("count", 1)),)
    if path == "/_fake/delete_cohort":
        cohort_id = number("cohort_id")
        try:
            store.cohorts.delete(cohort_id)
        except KeyError as exc:
            raise ApiError(400, str(exc.args[0])) from None
        return ({"deleted": cohort_id},)
    return None
