"""Pluggy hook specifications: how plugins add sinks to tap-mixpanel-engage."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from tap_mixpanel_engage.sink import Sink

PROJECT_NAME = "tap_mixpanel_engage"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

RegisterSink = Callable[[type[Sink]], None]


class SinkSpecs:
    """Hooks a sink plugin implements."""

    @hookspec
    def register_sinks(self, register: RegisterSink) -> None:
        """Register sink classes by calling ``register(SinkClass)`` once per class.

        Args:
            register: call it with each :class:`~tap_mixpanel_engage.sink.Sink` subclass the
                plugin provides; the class's ``name`` is what users put in the ``sink`` setting.
        """
