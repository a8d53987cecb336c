"""What a sync keeps in Singer STATE: the export's position, and the ``last_seen`` bookmark rules.

The head start, the Singer stream and :func:`tap_mixpanel_engage.sync` all start from
:func:`starting_value`, and ``sync()`` finishes with :func:`finish_bookmark`, which follows the
Singer SDK's rules for an unsorted stream; so a state moves freely between the tap and the
Python API. While an export runs, the stream state also holds its :class:`Position`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tap_mixpanel_engage.engage.records import REPLICATION_KEY
from tap_mixpanel_engage.errors import SettingsError

POSITION_KEY = "engage_position"
"""Stream-state key holding the export's :class:`Position` while a sync is under way."""
SDK_RUN_MARKERS = ("replication_key_signpost", "starting_replication_value")
"""Keys the Singer SDK keeps in stream state only while a run is under way."""


@dataclass(frozen=True)
class Position:
    """Where an export stands: saved in STATE so a killed run can continue.

    ``page`` is the last page whose records have all been handed out; ``last_id`` the last
    profile handed out (how a new session is lined up with what was emitted); ``signpost`` when
    the run that began the export started (the cap of its bookmark, however often it resumes).
    """

    fingerprint: str
    session_id: str
    page: int
    pages: int
    page_size: int
    total: int
    last_id: str | None = None
    signpost: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for Singer STATE."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Position | None:
        """Read a saved position; None when absent or not of this shape."""
        if not isinstance(data, dict):
            return None
        try:
            last_id, signpost = data.get("last_id"), data.get("signpost")
            return cls(
                fingerprint=str(data["fingerprint"]),
                session_id=str(data["session_id"]),
                page=int(data["page"]),
                pages=int(data["pages"]),
                page_size=int(data["page_size"]),
                total=int(data["total"]),
                last_id=last_id if isinstance(last_id, str) else None,
                signpost=signpost if isinstance(signpost, str) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


def starting_value(stream_state: Mapping[str, Any], start_date: str | None) -> str | None:
    """Profiles seen at or after this are exported; None exports every profile.

    The bookmark counts only when the state says it is a ``last_seen`` bookmark; the later of it
    and ``start_date`` wins (singer-sdk 0.54's ``write_starting_replication_value``).

    Raises:
        SettingsError: the bookmark or ``start_date`` is not a date-time.
    """
    bookmark = None
    if stream_state.get("replication_key") == REPLICATION_KEY:
        bookmark = stream_state.get("replication_key_value")
    return later(bookmark, start_date)


def later(*values: object) -> str | None:
    """The latest of some RFC 3339 date-times (None and non-strings ignored), as given.

    Raises:
        SettingsError: a string is not a date-time.
    """
    best: tuple[datetime, str] | None = None
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            message = f"`state` holds a bookmark that is not a date-time: {value!r}"
            raise SettingsError(message) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if best is None or parsed > best[0]:
            best = (parsed, value)
    return None if best is None else best[1]


def utc_now() -> str:
    """Now as RFC 3339 UTC with microseconds: the signpost that caps a run's bookmark."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def finish_bookmark(
    stream_state: MutableMapping[str, Any], newest: str | None, signpost: str
) -> None:
    """An export completed: forget its position and move the bookmark to ``newest``.

    The bookmark never passes ``signpost`` (when the run started): a profile stamped in the
    future must not skip profiles that were not seen yet. It never moves backwards either.
    """
    for key in (POSITION_KEY, "progress_markers", *SDK_RUN_MARKERS):
        stream_state.pop(key, None)
    if newest is not None and later(signpost, newest) != signpost:
        newest = signpost
    newest = later(stream_state.get("replication_key_value"), newest)
    if newest is not None:
        stream_state["replication_key"] = REPLICATION_KEY
        stream_state["replication_key_value"] = newest
