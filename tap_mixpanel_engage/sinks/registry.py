"""The plugin manager: the built-in DuckDB sink, sink plugins from entry points, lookup by name."""

from __future__ import annotations

import sys
from types import CodeType, FrameType

import pluggy

from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.sinks import hookspecs
from tap_mixpanel_engage.sinks.contract import Sink, SinkConfigError


class DuplicateSinkError(SettingsError):
    """Two plugins registered sinks under one name; the message names both (exit code 3)."""


class UnknownSinkError(SinkConfigError):
    """The ``sink`` setting names no installed sink; the message lists the installed ones."""


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager: the hook spec, the built-in DuckDB sink, then entry-point plugins.

    Raises:
        pluggy.PluginValidationError: a plugin implements a hook that does not exist.
    """
    from tap_mixpanel_engage.sinks import duckdb_sink

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(duckdb_sink, name="duckdb")
    pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    pm.check_pending()
    return pm


def installed_sinks(pm: pluggy.PluginManager | None = None) -> dict[str, type[Sink]]:
    """Every sink class registered through the ``register_sinks`` hook, by name, sorted.

    Raises:
        DuplicateSinkError: two different classes use one name (both plugins are named).
        TypeError: a plugin registered something that is not a named Sink subclass.
    """
    pm = pm or make_plugin_manager()
    # Which plugin is calling ``register``: the hook implementation's frame is on the stack.
    plugin_of: dict[CodeType, str] = {
        impl.function.__code__: impl.plugin_name
        for impl in pm.hook.register_sinks.get_hookimpls()
        if hasattr(impl.function, "__code__")
    }
    found: dict[str, tuple[type[Sink], str]] = {}

    def register(sink_class: type[Sink]) -> None:
        plugin = _calling_plugin(plugin_of)
        if not (isinstance(sink_class, type) and issubclass(sink_class, Sink)):
            raise TypeError(f"plugin {plugin!r} registered {sink_class!r}, not a Sink class")
        name = getattr(sink_class, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"plugin {plugin!r}: {_qualname(sink_class)} has no name")
        previous = found.get(name)
        if previous is not None and previous[0] is not sink_class:
            raise DuplicateSinkError(
                f"sink {name!r} is registered twice: {_qualname(previous[0])} by plugin "
                f"{previous[1]!r} and {_qualname(sink_class)} by plugin {plugin!r}"
            )
        found[name] = (sink_class, plugin)

    pm.hook.register_sinks(register=register)
    return {name: found[name][0] for name in sorted(found)}


def _calling_plugin(plugin_of: dict[CodeType, str]) -> str:
    """The plugin whose hook implementation is on the stack above ``register``."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code in plugin_of:
            return plugin_of[frame.f_code]
        frame = frame.f_back
    return "unknown"


def get_sink_class(name: str, pm: pluggy.PluginManager | None = None) -> type[Sink]:
    """The sink class called ``name``.

    Raises:
        UnknownSinkError: no installed sink has that name; the message lists installed sinks.
    """
    sinks = installed_sinks(pm)
    try:
        return sinks[name]
    except KeyError:
        installed = ", ".join(sinks) or "none"
        raise UnknownSinkError(
            f"sink: unknown sink {name!r}; installed sinks: {installed}"
        ) from None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
