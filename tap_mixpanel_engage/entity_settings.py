"""The settings of the entities beyond user profiles, and the value checks settings.py shares.

``groups`` (group profiles), ``cohort_ids`` (cohort members), and the Engage parameters that
peers leave out (``behaviors``, ``as_of_timestamp``, ``distinct_ids``). Their schema entries are
appended to :data:`tap_mixpanel_engage.settings.CONFIG_SCHEMA`, so they stay in the one schema
that ``--about``, Meltano and the README read; their checks live here, with messages that name
the setting and the item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.errors import SettingsError


def schema_property(kind: str, description: str, **keywords: Any) -> dict[str, Any]:
    """One property of the settings schema, in the shape ``singer_sdk.typing`` gives it."""
    prop: dict[str, Any] = {"type": [kind, "null"]}
    if kind == "array":
        prop["items"] = {"type": ["string"]}
    if keywords.pop("secret", False):
        keywords.update(secret=True, writeOnly=True)
    return {**prop, **keywords, "description": description}


ENTITY_PROPERTIES: dict[str, dict[str, Any]] = {
    "groups": schema_property(
        "array",
        "group_profiles stream: the group keys to export, each "
        '{"data_group_id": "...", "group_key": "company_id"} (Project Settings > Group Keys).',
        items={
            "type": ["object"],
            "properties": {
                "data_group_id": {"type": ["string", "integer"]},
                "group_key": {"type": ["string"]},
            },
            "required": ["data_group_id", "group_key"],
        },
    ),
    "cohort_ids": schema_property(
        "array",
        "cohort_members stream: only the members of these cohort ids (default: every cohort).",
        items={"type": ["integer"]},
    ),
    "behaviors": schema_property(
        "array",
        "engage stream: behaviors for `where`, e.g. "
        '[{"window": "30d", "name": "bought", "event_selectors": [{"event": "Purchase"}]}].',
        items={"type": ["object"]},
    ),
    "as_of_timestamp": schema_property(
        "integer",
        "engage stream: Unix time behaviors are counted at (default with behaviors: the run's "
        "start).",
        minimum=0,
    ),
    "distinct_ids": schema_property(
        "array", "engage stream: export only these profiles (long lists take several queries)."
    ),
}


@dataclass(frozen=True)
class GroupSpec:
    """One group key of the ``groups`` setting."""

    data_group_id: str
    group_key: str


def whole_number(value: Any, name: str) -> int | None:
    """``value`` as an int: an int, or a string of digits (``"1234567"``); None stays None.

    Raises:
        SettingsError: anything else (the message names the setting).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SettingsError(f"`{name}` must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SettingsError(f"`{name}` must be a whole number, got {value!r}")


def _items(config: Mapping[str, Any], name: str) -> list[Any] | None:
    """The setting as a non-empty list, or None when it is not given."""
    value = config.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, list | tuple):
        raise SettingsError(f"`{name}` must be a list")
    if not value:
        raise SettingsError(f"`{name}` must not be empty; leave it out instead")
    return list(value)


def _groups(config: Mapping[str, Any]) -> tuple[GroupSpec, ...]:
    items = _items(config, "groups") or []
    groups: dict[str, GroupSpec] = {}
    for n, item in enumerate(items):
        where = f"`groups[{n}]`"
        if not isinstance(item, Mapping):
            raise SettingsError(f'{where} must be an object like {{"data_group_id": "...", ...}}')
        unknown = sorted(set(item) - {"data_group_id", "group_key"})
        if unknown:
            raise SettingsError(f"{where} has unknown keys {unknown}")
        raw_id, key = item.get("data_group_id"), item.get("group_key")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            raise SettingsError(f"{where}.data_group_id must be the group's id (Group Keys)")
        if not isinstance(key, str) or not key:
            raise SettingsError(f"{where}.group_key must name the group key, e.g. company_id")
        group = GroupSpec(str(raw_id).strip(), key)
        if group.data_group_id in groups:
            raise SettingsError(f"{where}: data_group_id {group.data_group_id} is listed twice")
        groups[group.data_group_id] = group
    return tuple(groups.values())


def _cohort_ids(config: Mapping[str, Any]) -> tuple[int, ...] | None:
    items = _items(config, "cohort_ids")
    if items is None:
        return None
    ids = [whole_number(item, f"cohort_ids[{n}]") for n, item in enumerate(items)]
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _behaviors(config: Mapping[str, Any]) -> str | None:
    items = _items(config, "behaviors")
    if items is None:
        return None
    if not all(isinstance(item, Mapping) for item in items):
        raise SettingsError("`behaviors` must be a list of objects (one per behavior)")
    return json.dumps(items, separators=(",", ":"), sort_keys=True)


def _distinct_ids(config: Mapping[str, Any]) -> tuple[str, ...] | None:
    items = _items(config, "distinct_ids")
    if items is None:
        return None
    if not all(isinstance(item, str) and item for item in items):
        raise SettingsError("`distinct_ids` must be a list of non-empty strings")
    return tuple(dict.fromkeys(items))


def read_entity_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~tap_mixpanel_engage.settings.EngageSettings` fields these settings fill,
    except ``as_of_timestamp`` (a plain integer, read with the others).

    Raises:
        SettingsError: a setting or one of its items is malformed (named in the message).
    """
    behaviors = _behaviors(config)
    if behaviors is not None and config.get("filter_by_cohort") not in (None, ""):
        raise SettingsError(
            "`behaviors` cannot be combined with `filter_by_cohort` (Mixpanel refuses the pair)"
        )
    return {
        "groups": _groups(config),
        "cohort_ids": _cohort_ids(config),
        "behaviors": behaviors,
        "distinct_ids": _distinct_ids(config),
    }
