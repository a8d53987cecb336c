"""What is worth retrying, and how long to wait before the next try.

Transient failures (5xx, timeouts, dropped connections, broken bodies) back off exponentially
with jitter. A 429 waits for its ``Retry-After`` when it gives one, bounded so a huge or garbage
value neither hangs nor spins the export; the hourly limit is then waited out by the budget.
"""

from __future__ import annotations

import http.client
import random
from dataclasses import dataclass

import requests
import urllib3

from tap_mixpanel_engage.engage.responses import RateLimit

TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,  # raised by raw reads: truncated bodies, read timeouts
    http.client.HTTPException,
    ConnectionError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying and how to back off; tests shorten the waits."""

    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    min_tries: int = 3
    """A page is tried at least this often before a failure other than a 429 ends the run."""

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of ``base * 2**(attempt-1)``."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** min(attempt - 1, 30))
        return float(ceiling * random.uniform(0.5, 1.0))


def rate_limit_pause(
    limit: RateLimit,
    retry_after: float | None,
    tries: int,
    policy: RetryPolicy,
    *,
    budget_known: bool,
    longest: float,
) -> float:
    """Seconds to wait after the ``tries``-th 429 of a page, at most ``longest``.

    ``Retry-After`` is honoured, but never taken as 0 twice in a row (a spin): the backoff is the
    floor. For the hourly limit without one, only a short pause is taken here: the budget, now
    that it knows the limit, waits for the next free slot on the next try.
    """
    floor = policy.backoff(tries)
    if limit.hourly and retry_after is None:
        seconds = floor if budget_known else policy.backoff(tries + 3)
    else:
        seconds = max(retry_after if retry_after is not None else 0.0, floor)
    return min(seconds, longest)
