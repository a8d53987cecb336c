"""How big the pages of an export are, when the settings leave it to the export.

The hourly budget makes the number of queries the real cost of an export. Page 0 goes at the API's
default size (1000) and tells ``total``. An export that fits in two waves of the window stays as it
is; a bigger one is asked again with pages of ``total / max_workers`` profiles, at least the
default and at most :data:`AUTO_MAX_PAGE_SIZE`: one extra query, then as many pages as the window
fetches at once (small exports) or few large ones (200,000 profiles take 9 queries, the first
page 0 and 8 pages of 25,000, instead of 200). A user's ``page_size`` always wins.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from tap_mixpanel_engage.engage.pacing import DEFAULT_HOURLY_BUDGET
from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError, AuthError

logger = logging.getLogger(LOGGER_NAME)

AUTO_MAX_PAGE_SIZE = 25_000
"""The largest page this export asks for by itself: 25k profiles are about 20 MB of JSON. Pages of
40,000 and 50,000 are reported to work on the real API; set ``page_size`` to use them."""


def larger_page_size(total: int, page_size: int, max_workers: int) -> int | None:
    """The page size to ask for instead of ``page_size``, or None to keep it.

    Args:
        total: profiles the query matches (page 0's ``total``).
        page_size: the size page 0 came back with.
        max_workers: queries the export runs at once.
    """
    pages = math.ceil(total / page_size) if page_size else 0
    if pages <= 2 * max_workers:
        return None
    size = min(max(math.ceil(total / max_workers), page_size), AUTO_MAX_PAGE_SIZE)
    return size if size > page_size else None


def hour_sized_page(total: int, per_hour: int) -> int:
    """A page size that fetches ``total`` profiles in one hour's budget, rounded up to 1,000s.

    Two queries of the budget are kept for page 0 and one new session.
    """
    queries = max(per_hour - 2, 1)
    return math.ceil(math.ceil(total / queries) / 1000) * 1000


def first_page(
    fetch: Callable[[int | None], Page], chosen: int | None, max_workers: int
) -> tuple[Page, int | None]:
    """Page 0 of a new session and the page size to ask for from now on (see :func:`settle`).

    ``fetch(size)`` opens a session asking for pages of ``size`` (None: the API's default).
    """
    first = fetch(chosen)
    if first.total is None or not first.session_id or not first.page_size:
        return first, chosen  # no total: the export pages sequentially at this size
    return settle(first, chosen, max_workers, fetch)


def paged_by(asked: int | None, reported: int) -> int:
    """The page size a session pages by: the one its page 0 reports, whatever was asked."""
    if asked and reported != asked:
        logger.warning(
            "asked for %d profiles per page, the API pages by %d: going on with %d",
            *(asked, reported, reported),
        )
    return reported


def settle(
    first: Page, chosen: int | None, max_workers: int, fetch: Callable[[int], Page]
) -> tuple[Page, int | None]:
    """Page 0 to go on with and the page size to ask for from now on.

    ``chosen`` is the user's ``page_size`` (None: the export chooses); ``fetch(size)`` opens a
    new session asking for pages of ``size``. A page 0 shorter than its own ``page_size`` with
    more profiles to come means the API caps pages without saying so: the size it really sends
    is asked for explicitly. A refused or silently capped larger size keeps ``first``.
    """
    assert first.total is not None and first.page_size is not None
    size = None
    if len(first.records) < min(first.page_size, first.total):
        size = len(first.records)
        logger.warning(
            "page 0 holds %d profiles while the API says %d per page and %d in all; asking "
            "again with page_size=%d",
            size,
            first.page_size,
            first.total,
            size,
        )
    elif chosen is None:
        size = larger_page_size(first.total, first.page_size, max_workers)
    if not size:
        return first, chosen
    try:
        second = fetch(size)
    except AuthError:
        raise
    except APIError as exc:
        logger.warning("the API refused page_size=%d (%s); keeping %d", size, exc, first.page_size)
        return first, chosen
    if (
        second.total is None
        or not second.page_size
        or not second.session_id
        or len(second.records) < min(second.page_size, second.total)
    ):
        logger.warning(
            "asked for %d profiles per page, the API sent %d; keeping %d per page",
            size,
            len(second.records),
            first.page_size,
        )
        return first, chosen
    logger.info(
        "page size %d: %d queries for %d profiles instead of %d",
        second.page_size,
        math.ceil(second.total / second.page_size) + 1,
        second.total,
        math.ceil(first.total / first.page_size),
    )
    return second, second.page_size


def budget_warning(pages: int, total: int, per_hour: int | None) -> str | None:
    """The warning to give when an export plans more queries than an hour's budget."""
    limit = per_hour or DEFAULT_HOURLY_BUDGET
    if pages <= limit:
        return None
    source = "max_requests_per_hour" if per_hour else "Mixpanel's documented budget"
    return (
        f"this export plans {pages} queries, more than {limit} per hour ({source}): "
        f"expect about {math.ceil(pages / limit) - 1} hour(s) of waiting if every page counts; "
        f"page_size={hour_sized_page(total, limit)} would fit in one hour"
    )


class ShortPageGuard:
    """A page shorter than the page size before the last is the end of the data only if no
    profile follows it; else the API caps pages silently and profiles in between are lost."""

    def __init__(self) -> None:
        self._short: tuple[int, int] | None = None
        """The short page's number and how many profiles it had (its records go once read)."""

    def check(self, page: Page, page_size: int | None, pages: int | None) -> None:
        """Note ``page``; raise when profiles follow a short page.

        Raises:
            APIError: names the short page and the page size to set.
        """
        short = self._short
        if short is not None and page.records:
            number, count = short
            raise APIError(
                f"page {number} came back with {count} profiles, fewer than "
                f"the page size {page_size}, but page {page.number} is not empty: the API seems "
                "to cap pages silently, and profiles in between would be lost; set `page_size` "
                f"to {count} or lower",
                page=number,
            )
        if page_size and page.number < (pages or 0) - 1 and len(page.records) < page_size:
            self._short = (page.number, len(page.records))
