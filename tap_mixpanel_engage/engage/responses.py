"""What an Engage error answer means: its text, which rate limit a 429 names, its Retry-After,
and the setting to blame.

Kept apart from the HTTP client so the mapping can be read (and tested) as a table of cases.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from dataclasses import dataclass

import requests

from tap_mixpanel_engage.errors import APIError, AuthError, SessionExpired
from tap_mixpanel_engage.settings import EngageSettings


def error_text(response: requests.Response, content: bytes) -> str:
    """The API's own error text (JSON ``error`` field), or the start of the body."""
    start = content[:300].decode("utf-8", "replace").strip()
    try:
        payload = json.loads(content)
    except ValueError:
        return start or response.reason or "no details"
    if isinstance(payload, dict) and payload.get("error"):
        return str(payload["error"])
    return start


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date); None when absent or garbage.

    A date in the past or a negative number is 0; the caller bounds the wait (a huge value must
    not hang the export, a zero one must not make it spin).
    """
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = parsed.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_CONCURRENT = re.compile(r"(\d+)\s*/\s*(\d+)\s+quer(?:y|ies)\s+running\s+concurrently", re.I)
_HOURLY = re.compile(
    r"(\d+)\s*/\s*(\d+)\s+quer(?:y|ies)\s+(?:running\s+)?in\s+the\s+last\s+hour", re.I
)


@dataclass(frozen=True)
class RateLimit:
    """Which of Mixpanel's two limits a 429 names, read from its counters.

    Mixpanel's text carries both: ``6/5 queries running concurrently and 7/60 queries running in
    the last hour``, each count including the rejected query. A counter over its limit names that
    limit; when neither is over, one at its limit does (a count that leaves the rejected query
    out); without counters, the words decide. ``hour_used``/``hour_budget`` are the hourly counter
    when the text has one.
    """

    concurrency: bool
    hourly: bool
    hour_used: int | None = None
    hour_budget: int | None = None

    @classmethod
    def from_text(cls, text: str) -> RateLimit:
        """Read the limits a 429's error text names."""
        concurrent, hourly = _CONCURRENT.search(text), _HOURLY.search(text)
        if concurrent is None and hourly is None:
            lowered = text.lower()
            return cls(concurrency="concurren" in lowered, hourly="hour" in lowered)
        used, budget = (int(hourly[1]), int(hourly[2])) if hourly else (None, None)
        running, slots = (int(concurrent[1]), int(concurrent[2])) if concurrent else (None, None)

        def named(count: int | None, limit: int | None, at: bool) -> bool:
            return (
                count is not None
                and limit is not None
                and (count >= limit if at else count > limit)
            )

        at = not (named(running, slots, False) or named(used, budget, False))
        return cls(named(running, slots, at), named(used, budget, at), used, budget)


def client_error(
    response: requests.Response, content: bytes, page: int, settings: EngageSettings
) -> Exception:
    """Map a 4xx answer to the error a user can act on, naming the likely setting."""
    status = response.status_code
    text = error_text(response, content)
    lowered = text.lower()
    if page > 0 and "session" in lowered:
        return SessionExpired(page, text)
    if status in (401, 403) or "authenticate" in lowered or "credential" in lowered:
        if settings.uses_service_account:
            hint = (
                "check `username`, `secret` and `project_id` (the service account must belong to "
                f"the project), and `region` ({settings.region}: the project must live there)"
            )
        else:
            hint = f"check `api_secret` and `region` ({settings.region})"
        return AuthError(
            f"Mixpanel refused the credentials (HTTP {status}: {text}); {hint}",
            status=status,
            page=page,
        )
    if status == 402:
        return APIError(
            f"Mixpanel answered HTTP 402 ({text}): the project's plan does not include API "
            "access to profiles",
            status=status,
            page=page,
        )
    if status == 404:
        hint = "check `api_url` and `region`"
    elif "where" in lowered:
        hint = "check the `where` setting"
    elif "cohort" in lowered:
        hint = "check `filter_by_cohort`"
    elif "output_properties" in lowered:
        hint = "check `output_properties`"
    else:
        hint = "check `where`, `output_properties`, `filter_by_cohort` and `project_id`"
    return APIError(
        f"Mixpanel rejected the query for page {page} (HTTP {status}: {text}); {hint}",
        status=status,
        page=page,
    )
