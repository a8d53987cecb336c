"""Reading the JSON files the commands are given (``--config``, ``--state``, ``--catalog``...)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.errors import SettingsError


def read_json_object(path: str | Path, option: str) -> dict[str, Any]:
    """Read the JSON object in the file an option names (``--config``, ``--state``...).

    Raises:
        SettingsError: the file is missing, unreadable, not JSON or not an object; json's
            messages give only a position, never the text, so no secret can leak.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{option} file not found: {path}") from None
    except OSError as exc:
        raise SettingsError(f"{option} file {path} cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise SettingsError(f"{option} file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{option} file {path} must hold a JSON object")
    return data
