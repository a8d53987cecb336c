"""The plugin manager: the built-in DuckDB sink, sink plugins from entry points, lookup by name."""

from __future__ import annotations

import pluggy

from tap_mixpanel_engage.hookspecs import PROJECT_NAME, SinkSpecs
from tap_mixpanel_engage.sink import Sink, SinkConfigError


class DuplicateSinkError(RuntimeError):
    """Two plugins registered sinks under one name; the message names both."""


class UnknownSinkError(SinkConfigError):
    """The ``sink`` setting names no installed sink; the message lists the installed ones."""


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager: hook specs, the built-in DuckDB sink, then entry-point plugins.

    Raises:
        pluggy.PluginValidationError: a plugin implements a hook that does not exist.
    """
    from tap_mixpanel_engage import duckdb_sink

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(SinkSpecs)
    pm.register(duckdb_sink, name="duckdb")
    pm.load_setuptools_entrypoints(PROJECT_NAME)
    pm.check_pending()
    return pm


def installed_sinks(pm: pluggy.PluginManager | None = None) -> dict[str, type[Sink]]:
    """Every sink class registered through ``register_sinks``, by name, sorted.

    Raises:
        DuplicateSinkError: two different classes use one name (both plugins are named).
        TypeError: a plugin registered something that is not a named Sink subclass.
    """
    pm = pm or make_plugin_manager()
    found: dict[str, tuple[type[Sink], str]] = {}
    for impl in pm.hook.register_sinks.get_hookimpls():
        plugin = impl.plugin_name

        def register(sink_class: type[Sink], plugin: str = plugin) -> None:
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

        impl.function(register=register)
    return {name: found[name][0] for name in sorted(found)}


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
