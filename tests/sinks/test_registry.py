"""The hook layer: built-in sink, entry-point plugins, duplicate and unknown names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from tap_mixpanel_engage.sinks.contract import Record, Sink, SinkConfigError
from tap_mixpanel_engage.sinks.duckdb_sink import DuckDBSink
from tap_mixpanel_engage.sinks.hookspecs import RegisterSink, hookimpl
from tap_mixpanel_engage.sinks.registry import (
    DuplicateSinkError,
    UnknownSinkError,
    get_sink_class,
    installed_sinks,
    make_plugin_manager,
)

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"

PLUGIN_SOURCE = """
from tap_mixpanel_engage.sinks.hookspecs import hookimpl
from tap_mixpanel_engage.sinks.contract import Sink


class EchoSink(Sink):
    name = "echo-test"
    description = "test sink from an entry point"

    def open_stream(self, stream, schema, key_properties):
        pass

    def write_batch(self, stream, records):
        pass

    def commit(self):
        pass

    def close(self):
        pass


@hookimpl
def register_sinks(register):
    register(EchoSink)
"""


class NullSink(Sink):
    name = "null-test"
    description = "drops everything"

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        pass

    def write_batch(self, stream: str, records: Sequence[Record]) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


class OtherDuckDB(NullSink):
    name = "duckdb"


class RegistersNull:
    @hookimpl
    def register_sinks(self, register: RegisterSink) -> None:
        register(NullSink)


class RegistersAnotherDuckDB:
    @hookimpl
    def register_sinks(self, register: RegisterSink) -> None:
        register(OtherDuckDB)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """An installed distribution on disk whose entry point registers ``echo-test``."""
    (tmp_path / "echo_sink_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    info = tmp_path / "echo_sink_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-sink-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tap_mixpanel_engage]\necho = echo_sink_plugin\n")
    return tmp_path


def test_each_call_builds_a_fresh_manager_with_the_builtin_duckdb_sink() -> None:
    first, second = make_plugin_manager(), make_plugin_manager()
    assert first is not second
    first.register(RegistersNull(), name="null")
    assert "null-test" in installed_sinks(first)
    assert "null-test" not in installed_sinks(second)
    assert installed_sinks(second)["duckdb"] is DuckDBSink
    assert second.get_plugin("duckdb") is not None


def test_a_registered_plugin_adds_its_sink_by_name() -> None:
    pm = make_plugin_manager()
    pm.register(RegistersNull(), name="null")
    assert get_sink_class("null-test", pm) is NullSink
    assert get_sink_class("duckdb", pm) is DuckDBSink


def test_installed_sinks_are_sorted_by_name() -> None:
    pm = make_plugin_manager()
    pm.register(RegistersNull(), name="null")
    names = list(installed_sinks(pm))
    assert names == sorted(names)


def test_entry_point_plugin_is_loaded(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    sinks = installed_sinks(make_plugin_manager())
    assert sinks["echo-test"].__module__ == "echo_sink_plugin"
    assert sinks["echo-test"].description == "test sink from an entry point"


def test_two_plugins_registering_one_name_is_an_error_naming_both() -> None:
    pm = make_plugin_manager()
    pm.register(RegistersAnotherDuckDB(), name="impostor")
    with pytest.raises(DuplicateSinkError) as caught:
        installed_sinks(pm)
    assert str(caught.value) == (
        "sink 'duckdb' is registered twice: tap_mixpanel_engage.sinks.duckdb_sink.DuckDBSink by "
        "plugin 'duckdb' and tests.sinks.test_registry.OtherDuckDB by plugin 'impostor'"
    )


def test_registering_one_class_twice_is_not_a_conflict() -> None:
    pm = make_plugin_manager()
    pm.register(RegistersNull(), name="null-a")
    pm.register(RegistersNull(), name="null-b")
    assert installed_sinks(pm)["null-test"] is NullSink


def test_registering_a_non_sink_fails_naming_the_plugin() -> None:
    class Bad:
        @hookimpl
        def register_sinks(self, register: Any) -> None:
            register(dict)

    pm = make_plugin_manager()
    pm.register(Bad(), name="bad-plugin")
    with pytest.raises(TypeError, match="plugin 'bad-plugin' registered <class 'dict'>"):
        installed_sinks(pm)


def test_unknown_sink_lists_the_installed_ones() -> None:
    pm = make_plugin_manager()
    pm.register(RegistersNull(), name="null")
    installed = ", ".join(installed_sinks(pm))
    with pytest.raises(UnknownSinkError) as caught:
        get_sink_class("nope", pm)
    assert str(caught.value) == f"sink: unknown sink 'nope'; installed sinks: {installed}"
    assert isinstance(caught.value, SinkConfigError)


def test_misspelled_hook_fails_check_pending() -> None:
    class Misspelled:
        @hookimpl
        def register_sink(self, register: Any) -> None:
            """Not a hook: the spec is register_sinks."""

    pm = make_plugin_manager()
    pm.register(Misspelled())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_list_sinks_prints_each_installed_sink_with_its_description(plugin_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugin_dir)}
    done = subprocess.run(
        [TARGET, "--list-sinks"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"duckdb\t{DuckDBSink.description}" in lines
    assert "echo-test\ttest sink from an entry point" in lines
    names = [line.split("\t")[0] for line in lines]
    assert names == sorted(names)
    assert len(names) == len(set(names))
