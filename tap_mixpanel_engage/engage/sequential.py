"""Paging a session that gave no ``total``: the documented stop rule, page after page."""

from __future__ import annotations

from collections.abc import Callable, Generator

from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.errors import SessionExpired

Step = tuple[int, Page | None]
"""Where to go on: the next page number and a page already fetched to hand out first."""


def page_on(
    number: int,
    head: Page | None,
    *,
    fetch: Callable[[int], Page],
    recover: Callable[[SessionExpired, int], Step],
    handout: Callable[[Page], Page],
    page_size: Callable[[Page], int],
    has_total: Callable[[], bool],
) -> Generator[Page, None, Step | None]:
    """Hand out pages from ``number`` (``head`` first) while they are full.

    ``fetch(n)`` gets page ``n`` of the session; ``recover`` opens a new one after expiry. Returns
    where to go on when a new session has a total (the window takes over), else None at the end.
    """
    restarts = 0
    page = head
    while True:
        if page is None:
            try:
                page = fetch(number)
            except SessionExpired as exc:
                restarts += 1
                number, page = recover(exc, restarts)
                if has_total():
                    return number, page
                continue
        size = page_size(page)
        full = bool(size and len(page.records) >= size and page.session_id)
        yield handout(page)  # the consumer may release the records: count them first
        if not full:
            return None
        number, page = page.number + 1, None
