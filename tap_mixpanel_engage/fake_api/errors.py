"""The fake's error answer: a status and the text Mixpanel would put in its JSON ``error``."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than 200; ``message`` becomes the JSON ``error`` field."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
