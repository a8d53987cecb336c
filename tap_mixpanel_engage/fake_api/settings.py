"""Knobs of the fake Engage API and its live counters.

Every knob is off or neutral by default, and everything random is drawn from ``seed``, so a run
with the same settings repeats (thread scheduling aside).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "drop", "truncate", "invalid_json")
"""``drop`` closes the connection without answering; ``truncate`` sends the full Content-Length,
then half the body; ``invalid_json`` answers 200 with a body that is not JSON."""
DEFAULT_GROUPS: tuple[tuple[str, int], ...] = (
    ("-1405123841946871899", 300),
    ("7282917330102931517", 120),
)
"""Group keys (``data_group_id``, profiles) every fake serves unless told otherwise."""


GROWTH_POSITIONS: tuple[str, ...] = ("end", "start")
"""Where profiles added during an export appear in the order: after every other, or first."""


@dataclass(frozen=True)
class FakeSettings:
    """How the fake behaves. See ``docs/fake_api.md`` for the meaning of each knob."""

    profiles: int = 1000
    seed: int = 0
    project_id: int = 1234
    username: str = "svc-user"
    secret: str = "svc-secret"
    api_secret: str = "legacy-secret"
    latency: float = 0.0
    jitter: float = 0.0
    max_concurrent: int | None = None
    rate_limit: int | None = None
    rate_window: float = 3600.0
    rate_limit_pages: bool = True
    session_lifetime: float | None = None
    session_idle_timeout: float | None = None
    growth_per_second: float = 0.0
    growth_at: str = "end"
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fail_with_status: int | None = None
    page_size_default: int = 1000
    page_size_max: int = 10_000
    groups: tuple[tuple[str, int], ...] = DEFAULT_GROUPS
    cohorts: int = 3
    cohort_ghosts: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.profiles <= 2**32:
            problems.append("profiles must be between 0 and 2**32")
        if self.latency < 0 or not 0 <= self.jitter <= 1:
            problems.append("latency must be >= 0 and jitter within 0..1")
        if not 0 <= self.fault_rate <= 1:
            problems.append("fault_rate must be within 0..1")
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown or not self.fault_kinds:
            problems.append(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append("max_concurrent must be >= 1")
        if self.rate_limit is not None and self.rate_limit < 1:
            problems.append("rate_limit must be >= 1")
        if self.rate_window <= 0:
            problems.append("rate_window must be > 0")
        if self.session_lifetime is not None and self.session_lifetime < 0:
            problems.append("session_lifetime must be >= 0")
        if self.session_idle_timeout is not None and self.session_idle_timeout < 0:
            problems.append("session_idle_timeout must be >= 0")
        if self.growth_per_second < 0 or self.growth_at not in GROWTH_POSITIONS:
            problems.append(f"growth_per_second must be >= 0, growth_at one of {GROWTH_POSITIONS}")
        if self.page_size_default < 1 or self.page_size_max < 1:
            problems.append("page sizes must be >= 1 (the default is capped at page_size_max)")
        group_ids = [group_id for group_id, _ in self.groups]
        if len(set(group_ids)) != len(group_ids) or not all(group_ids):
            problems.append("groups must have distinct, non-empty data_group_ids")
        if any(not 0 <= n < 2**32 for _, n in self.groups):
            problems.append("each group must have between 0 and 2**32 profiles")
        if self.cohorts < 0 or self.cohort_ghosts < 0:
            problems.append("cohorts and cohort_ghosts must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class FakeStats:
    """Live counters, updated by server threads under ``lock``; read them via ``snapshot()``.

    ``requests`` counts every request to the Engage paths (admin paths excluded);
    ``pages_served`` maps page number to the count of 200 data pages sent.
    """

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    pages_served: Counter[int] = field(default_factory=Counter)
    profiles_served: int = 0
    sessions_opened: int = 0
    expired_sessions: int = 0
    rate_limited: int = 0
    faults: int = 0
    faults_by_kind: Counter[str] = field(default_factory=Counter)
    auth_failures: int = 0
    client_errors: int = 0
    cohort_lists_served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        """Increment integer counters atomically."""
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, Any]:
        """A consistent, JSON-ready copy of every counter."""
        with self.lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "pages_served": dict(sorted(self.pages_served.items())),
                "profiles_served": self.profiles_served,
                "sessions_opened": self.sessions_opened,
                "expired_sessions": self.expired_sessions,
                "rate_limited": self.rate_limited,
                "faults": self.faults,
                "faults_by_kind": dict(sorted(self.faults_by_kind.items())),
                "auth_failures": self.auth_failures,
                "client_errors": self.client_errors,
                "cohort_lists_served": self.cohort_lists_served,
            }
