"""Errors a user can act on, the exit code each gives, and the one way the commands report them.

Messages name the setting, the input line or the page at fault and never contain a secret. Every
command (``tap-mixpanel-engage``, ``target-mixpanel-duckdb``, ``mixpanel-engage``) ends on an
error with :func:`fail`: one line on stderr, no traceback, the exit code below.
"""

from __future__ import annotations

import sys

LOGGER_NAME = "tap-mixpanel-engage"
"""The one logger every module of the project logs to."""

EXIT_OK = 0
EXIT_FAILED = 1
"""Bad input, a failed load, an API that kept failing, anything unexpected."""
EXIT_AUTH = 2
"""Mixpanel refused the credentials or their access to the project."""
EXIT_SETTINGS = 3
"""A setting, a command-line argument or a settings file is invalid."""
EXIT_SIGNAL_BASE = 128
"""Interrupted by signal N: exit 128 + N (130 for Ctrl-C, 143 for SIGTERM)."""


class EngageError(Exception):
    """A failure with a clear message for the user; no traceback is shown for it."""

    exit_code = EXIT_FAILED


class SettingsError(EngageError):
    """A setting is missing, malformed or out of range."""

    exit_code = EXIT_SETTINGS


class APIError(EngageError):
    """The Engage API refused a query, or kept failing after every retry."""

    def __init__(self, message: str, *, status: int | None = None, page: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.page = page


class AuthError(APIError):
    """The API rejected the credentials or their access to the project."""

    exit_code = EXIT_AUTH


class SessionExpired(Exception):
    """The query session of a page is gone; the export opens a new one (never shown to users)."""

    def __init__(self, page: int, detail: str) -> None:
        super().__init__(f"session expired at page {page}: {detail}")
        self.page = page


def one_line(exc: BaseException) -> str:
    """``str(exc)`` with its whitespace folded onto one line."""
    return " ".join(str(exc).split())


def fail(prog: str, exc: BaseException | str, code: int | None = None) -> int:
    """Print ``prog: error: <message>`` on stderr and return the exit code.

    ``code`` defaults to the error's own :attr:`EngageError.exit_code`; anything that is not an
    :class:`EngageError` is unexpected and is named by its type.
    """
    if isinstance(exc, EngageError):
        message, code = str(exc), exc.exit_code if code is None else code
    elif isinstance(exc, BaseException):
        message, code = f"unexpected {type(exc).__name__}: {one_line(exc)}", code or EXIT_FAILED
    else:
        message, code = exc, EXIT_FAILED if code is None else code
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code
