"""The hook a sink plugin implements: ``register_sinks(register)``, one call per process."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from tap_mixpanel_engage.sinks.contract import Sink

PROJECT_NAME = "tap_mixpanel_engage"
"""The pluggy project name, which is also the entry-point group plugins declare."""
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

RegisterSink = Callable[[type[Sink]], None]


@hookspec
def register_sinks(register: RegisterSink) -> None:
    """Register sink classes by calling ``register(SinkClass)`` once per class.

    Args:
        register: call it with each :class:`~tap_mixpanel_engage.sinks.Sink` subclass the plugin
            provides; the class's ``name`` is what users put in the ``sink`` setting.
    """
