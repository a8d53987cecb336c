"""``target-mixpanel-duckdb``: reads Singer messages and drives one sink from one writer thread.

Exit codes (:mod:`tap_mixpanel_engage.errors`): 0 done, 1 bad input or a failed load, 3 invalid
settings (an unknown sink, an unwritable path), 130/143 on SIGINT/SIGTERM (after committing what
was received).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from tap_mixpanel_engage.errors import EXIT_OK, EXIT_SIGNAL_BASE, fail
from tap_mixpanel_engage.jsonfiles import read_json_object
from tap_mixpanel_engage.sinks.contract import SinkConfigError
from tap_mixpanel_engage.sinks.registry import installed_sinks
from tap_mixpanel_engage.target.intake import Interrupted
from tap_mixpanel_engage.target.loader import load
from tap_mixpanel_engage.target.settings import SETTINGS

PROG = "target-mixpanel-duckdb"


def about(output_format: str, pm: pluggy.PluginManager | None = None) -> str:
    """The settings of the target and of every installed sink, as JSON or Markdown."""
    sinks = installed_sinks(pm)
    info = {
        "name": PROG,
        "description": "Single-writer Singer target with pluggable sinks (default: DuckDB).",
        "capabilities": ["about", "batch"],
        "settings": list(SETTINGS),
        "sinks": {
            name: {"description": cls.description, "settings": list(cls.settings)}
            for name, cls in sinks.items()
        },
    }
    if output_format == "json":
        return json.dumps(info, indent=2)
    lines = [f"# `{PROG}`", "", str(info["description"]), "", "## Settings", ""]
    lines += _settings_table(SETTINGS)
    for name, cls in sinks.items():
        lines += ["", f"## Sink `{name}`", "", cls.description, ""]
        lines += _settings_table(cls.settings)
    return "\n".join(lines)


def _settings_table(settings: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = ["| Setting | Type | Default | Description |", "|---|---|---|---|"]
    for s in settings:
        default = "" if s.get("default") is None else f"`{json.dumps(s['default'])}`"
        rows.append(f"| `{s['name']}` | {s['type']} | {default} | {s['description']} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code."""
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", help="JSON file with the target and sink settings")
    parser.add_argument("--input", help="read Singer messages from this file, not stdin")
    parser.add_argument("--about", action="store_true", help="describe the settings and exit")
    parser.add_argument("--format", choices=["json", "markdown"], default="json")
    parser.add_argument("--list-sinks", action="store_true", help="list installed sinks")
    args = parser.parse_args(argv)
    try:
        if args.list_sinks:
            for name, cls in installed_sinks().items():
                print(f"{name}\t{cls.description}")
            return EXIT_OK
        if args.about:
            print(about(args.format))
            return EXIT_OK
        config = read_json_object(args.config, "--config") if args.config else {}
        if args.input is None:
            load(config, sys.stdin.buffer, sys.stdout.buffer)
        else:
            try:
                lines = open(args.input, "rb")  # noqa: SIM115 - closed below, errors reported
            except OSError as exc:
                raise SinkConfigError(f"--input: cannot read {args.input!r}: {exc}") from None
            with lines:
                load(config, lines, sys.stdout.buffer)
    except Interrupted as exc:
        message = "interrupted; every record received is committed and the last STATE printed"
        return fail(PROG, message, EXIT_SIGNAL_BASE + exc.signum)
    except Exception as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:
        return fail(PROG, "interrupted; batches committed so far are kept", EXIT_SIGNAL_BASE + 2)
    return EXIT_OK


def entry_point() -> None:
    """Console script wrapper."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
