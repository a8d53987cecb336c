"""Lining a new query session up with what an export already handed out.

When a session expires (or a resumed run finds its saved session gone), the export opens a new
one. Profiles may have been added or removed meanwhile, so the new session's pages need not start
where the old ones did. The last profile handed out (its ``distinct_id``) is looked for where it
should be now: on the same page if nothing before it changed (profiles added at the end of the
order leave every earlier page alone), or moved by the change in ``total`` if profiles were added
or removed before it. Found there, the export continues with that page (handed out again: a few
duplicates, which the targets upsert, and nothing lost); not found, it starts over from page 0 of
the new session. Each look costs one query, and two at most are tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.errors import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class Emitted:
    """What the old session handed out: its last page, the position of its last profile."""

    page: int
    """The last page number handed out (-1: none)."""
    last_id: str | None
    """The last ``distinct_id`` handed out, or None when every page so far was empty."""
    last_position: int
    """The last profile's position in the old session's order."""
    total: int | None
    """The old session's ``total``, when it had one."""

    def after(self, page: Page, page_size: int | None, total: int | None) -> Emitted:
        """What was emitted once ``page`` (of a session with ``total``) is handed out too."""
        if not page.records:
            return Emitted(page.number, self.last_id, self.last_position, self.total)
        size = page_size or len(page.records)
        last_id = str(page.records[-1].get("distinct_id"))
        return Emitted(page.number, last_id, page.number * size + len(page.records) - 1, total)


def candidate_pages(emitted: Emitted, new_total: int | None, page_size: int) -> list[int]:
    """Pages of the new session where the last profile handed out should be, likeliest first."""
    if emitted.last_id is None or emitted.page < 0 or page_size < 1:
        return []
    pages = [emitted.last_position // page_size]
    if new_total is not None and emitted.total is not None and new_total != emitted.total:
        moved = max(emitted.last_position + new_total - emitted.total, 0)
        pages.append(moved // page_size)
    if new_total is not None:
        last = max((new_total - 1) // page_size, 0)
        pages = [min(p, last) for p in pages]
    return list(dict.fromkeys(pages))


def offset_of(distinct_id: str, records: Sequence[Mapping[str, object]]) -> int | None:
    """Where ``distinct_id`` is in a page's records, or None."""
    for offset, record in enumerate(records):
        if record.get("distinct_id") == distinct_id:
            return offset
    return None


def line_up(
    emitted: Emitted, first: Page, page_size: int, fetch: Callable[[int], Page]
) -> tuple[int, Page | None] | None:
    """Where to continue in the new session whose page 0 is ``first``.

    Returns the page to continue from and the page to hand out first (None when the page found
    ends exactly where the old one did), or None when the session does not line up.
    ``fetch(number)`` asks the new session for one page.
    """
    probes = {0: first}
    for number in candidate_pages(emitted, first.total, page_size):
        if number not in probes:
            probes[number] = fetch(number)
        page = probes[number]
        offset = offset_of(emitted.last_id or "", page.records)
        if offset is None:
            continue
        logger.info("the new session lines up with what was emitted: continuing at page %d", number)
        if offset == len(page.records) - 1:
            return number + 1, None
        return number, page
    return None
