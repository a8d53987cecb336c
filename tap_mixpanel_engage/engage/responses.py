"""What an Engage error answer means: its text, its Retry-After, and the setting to blame.

Kept apart from the HTTP client so the mapping can be read (and tested) as a table of cases.
"""

from __future__ import annotations

import email.utils
import json
import time

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
    """``Retry-After`` in seconds (a number or an HTTP date); None when absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())


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
