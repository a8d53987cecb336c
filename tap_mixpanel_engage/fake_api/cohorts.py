"""The fake's cohorts: the Cohorts list, and who left a cohort or which cohort was deleted.

Membership is the fake's usual rule (:func:`~tap_mixpanel_engage.fake_api.engine.in_cohort`,
about one profile in three per cohort, so cohorts overlap), minus members who left. Listed
cohorts may also have members without a profile ("ghosts", ``cohort_ghosts``): with
``include_all_users`` (Mixpanel's default) they come back after the profiles, with empty
``$properties``. A deleted cohort leaves the list and has no members.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tap_mixpanel_engage.fake_api.engine import in_cohort
from tap_mixpanel_engage.fake_api.settings import FakeSettings

COHORT_ID_BASE = 4_100_001
_NAMES = ("Power users", "Churn risk", "Trial ☕", "Enterprise", "Beta testers", "Lapsed")


@dataclass(frozen=True)
class FakeCohort:
    """One listed cohort."""

    id: int
    name: str
    description: str
    is_visible: int
    created: str


class Cohorts:
    """The listed cohorts and the changes made to them since the fake started."""

    def __init__(self, settings: FakeSettings) -> None:
        rng = random.Random(f"cohorts:{settings.seed}")
        self.project_id = settings.project_id
        self.ghosts = settings.cohort_ghosts
        self._lock = threading.Lock()
        self._listed: dict[int, FakeCohort] = {}
        for k in range(settings.cohorts):
            cohort_id = COHORT_ID_BASE + 7 * k
            self._listed[cohort_id] = FakeCohort(
                id=cohort_id,
                name=f"{_NAMES[k % len(_NAMES)]} {k // len(_NAMES) + 1}",
                description="" if k % 3 == 2 else f"Profiles matching rule {k} — “quoted”",
                is_visible=0 if k % 4 == 3 else 1,
                created=f"2024-{1 + k % 12:02d}-{1 + rng.randrange(28):02d} "
                f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
            )
        self._deleted: set[int] = set()
        self._left: dict[int, set[int]] = {}

    def ids(self) -> list[int]:
        """The ids in the list, in list order."""
        with self._lock:
            return list(self._listed)

    def is_listed(self, cohort_id: int) -> bool:
        with self._lock:
            return cohort_id in self._listed

    def members(self, cohort_id: int, candidates: Sequence[int]) -> list[int]:
        """The candidates (live profile indices) that are members of ``cohort_id``."""
        with self._lock:
            if cohort_id in self._deleted:
                return []
            left = self._left.get(cohort_id, set())
        return [i for i in candidates if in_cohort(cohort_id, i) and i not in left]

    def ghost_indices(self, cohort_id: int, first_ghost: int) -> list[int]:
        """Members without a profile (listed cohorts only), as indices from ``first_ghost``."""
        if not self.is_listed(cohort_id):
            return []
        with self._lock:
            left = self._left.get(cohort_id, set())
        return [g for g in range(first_ghost, first_ghost + self.ghosts) if g not in left]

    def leave(self, cohort_id: int, indices: Sequence[int]) -> None:
        """These members leave ``cohort_id``."""
        with self._lock:
            self._left.setdefault(cohort_id, set()).update(indices)

    def delete(self, cohort_id: int) -> None:
        """``cohort_id`` leaves the list, and has no members from now on."""
        with self._lock:
            if cohort_id not in self._listed:
                raise KeyError(f"cohort {cohort_id} is not in the list")
            del self._listed[cohort_id]
            self._deleted.add(cohort_id)

    def list_json(self, count: Callable[[int], int]) -> bytes:
        """The Cohorts list answer; ``count(cohort_id)`` gives each member count."""
        with self._lock:
            listed = list(self._listed.values())
        items = [
            {
                "count": count(c.id),
                "is_visible": c.is_visible,
                "description": c.description,
                "created": c.created,
                "project_id": self.project_id,
                "id": c.id,
                "name": c.name,
            }
            for c in listed
        ]
        return json.dumps(items).encode()
