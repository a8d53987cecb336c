"""Errors a user can act on, each with the exit code the command-line tools give it.

Messages name the setting or the page at fault and never contain a secret.
"""

from __future__ import annotations


class EngageError(Exception):
    """A failure with a clear message for the user; no traceback is shown for it."""

    exit_code = 1


class SettingsError(EngageError):
    """A setting is missing, malformed or out of range."""

    exit_code = 3


class APIError(EngageError):
    """The Engage API refused a query, or kept failing after every retry."""

    def __init__(self, message: str, *, status: int | None = None, page: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.page = page


class AuthError(APIError):
    """The API rejected the credentials or their access to the project."""

    exit_code = 2


class SessionExpired(Exception):
    """The query session of a page is gone; the export opens a new one (never shown to users)."""

    def __init__(self, page: int, detail: str) -> None:
        super().__init__(f"session expired at page {page}: {detail}")
        self.page = page
