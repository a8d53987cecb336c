"""Singer table versions in the target: RECORD ``version`` to a column, ACTIVATE_VERSION to a sink.

Every stream's schema gets :data:`~tap_mixpanel_engage.sinks.VERSION_PROPERTY` (the version a row
was written with, null for incremental records) and
:data:`~tap_mixpanel_engage.sinks.DELETED_AT_PROPERTY` (set instead of deleting when
``hard_delete`` is off). An ``ACTIVATE_VERSION`` flushes what is buffered and is applied in the
same commit (:class:`~tap_mixpanel_engage.sinks.driver.Activation`), so the rows of the full sync
and the removal of older rows land together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_mixpanel_engage.sinks.driver import Activation
from tap_mixpanel_engage.target.reader import InputError

HARD_DELETE_SETTING: dict[str, Any] = {
    "name": "hard_delete",
    "type": "boolean",
    "default": True,
    "description": "On ACTIVATE_VERSION (end of a full sync), delete rows the source no longer "
    "has; false keeps them with _sdc_deleted_at set.",
}


def record_version(message: Mapping[str, Any], line: int) -> int | None:
    """The RECORD's ``version`` (None without one).

    Raises:
        InputError: the version is not a whole number.
    """
    version = message.get("version")
    if version is None or type(version) is int:
        return version
    raise InputError(f"line {line}: RECORD 'version' must be a whole number, got {version!r}")


def activation(message: Mapping[str, Any], line: int, *, hard_delete: bool) -> Activation:
    """The :class:`Activation` an ACTIVATE_VERSION message asks for.

    Raises:
        InputError: no stream name, or a version that is not a whole number.
    """
    stream, version = message.get("stream"), message.get("version")
    if not isinstance(stream, str):
        raise InputError(f"line {line}: ACTIVATE_VERSION needs a 'stream' string")
    if type(version) is not int:
        raise InputError(
            f"line {line}: ACTIVATE_VERSION 'version' must be a whole number, got {version!r}"
        )
    return Activation(stream, version, hard_delete)
