"""The pages of one query session, fetched through the ordered window by the export's client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from tap_mixpanel_engage.engage.client import EngageClient
from tap_mixpanel_engage.engage.pacing import Cancelled
from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.engage.window import OrderedWindow
from tap_mixpanel_engage.errors import SessionExpired


def session_window(
    client: EngageClient,
    body: Callable[[int], Mapping[str, str]],
    pages: range,
    *,
    exporting: threading.Event,
    on_idle: Callable[[], None],
    max_bytes: int,
    holding: int = 0,
    estimate: int = 0,
) -> OrderedWindow[Page]:
    """Start fetching ``pages`` of one session; they come out in order.

    The window has its own cancel event: one that ends on an error (an expired session) must
    not cancel the export, which goes on with a new session (``exporting`` is the export's).
    Once one page finds the session expired, no other page of the window is sent: those still
    waiting for a slot end with the same expiry, so a dead session costs one query.
    ``holding``: bytes of a page the caller still works on; ``estimate``: what a page weighs
    before it is answered (page 0's body, say), so the first pages in flight count too.
    """
    window_closed = threading.Event()
    expired: list[SessionExpired] = []

    def fetch(page: int) -> Page:
        if exporting.is_set():
            raise Cancelled
        try:
            return client.fetch(body(page), page, window_closed)
        except SessionExpired as exc:
            expired.append(exc)
            window_closed.set()
            raise
        except Cancelled:
            if expired and not exporting.is_set():
                raise expired[0] from None
            raise

    return OrderedWindow(
        fetch,
        pages,
        max_workers=client.settings.max_workers,
        cancelled=window_closed,
        on_idle=on_idle,
        on_cancel=client.abort,
        weigh=lambda page: page.nbytes,
        max_bytes=max_bytes,
        estimate=estimate,
        holding=holding,
    )
