"""Date-time conversions between Mixpanel's naive UTC strings and RFC 3339.

Mixpanel sends ``"2024-06-09T23:08:40"`` (UTC, no offset); Singer and DuckDB want an offset. These
run once per date property per record, so the common shape takes a fast path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tap_mixpanel_engage.errors import SettingsError

_fromisoformat = datetime.fromisoformat
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?")


def to_rfc3339_utc(value: object) -> str | None:
    """Return ``value`` as an RFC 3339 UTC string, or None when it is not a date-time string."""
    if type(value) is str and len(value) == 19 and value[10] == "T" and value[4] == "-":
        # Mixpanel's usual "2024-06-09T23:08:40": checked by the C parser, not the regex.
        try:
            _fromisoformat(value)
        except ValueError:
            return None
        return value + "Z" if value[7] == "-" and value[13] == value[16] == ":" else None
    if not isinstance(value, str) or len(value) < 10:
        return None
    if len(value) <= 26 and _NAIVE.fullmatch(value):
        try:
            _fromisoformat(value)
        except ValueError:
            return None
        return value + "Z"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_mixpanel(value: str) -> str:
    """Return an RFC 3339 date-time as Mixpanel's naive UTC form, for ``where`` expressions."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="seconds")


def parse_start_date(value: str) -> str:
    """Check the ``start_date`` setting and return it as RFC 3339 UTC.

    Raises:
        SettingsError: the value is not an ISO date or date-time.
    """
    converted = to_rfc3339_utc(value if "T" in value else value + "T00:00:00")
    if converted is None:
        raise SettingsError(
            f"`start_date` must be an ISO date or date-time such as 2024-01-31, got {value!r}"
        )
    return converted
