"""``mixpanel-engage``: sync profiles into a sink in one process, or list the installed sinks.

Exit codes: 0 done, 2 authentication or authorisation failure, 3 invalid settings (including
command-line usage errors), 1 anything else. The result is printed as JSON on stdout; progress
goes to stderr (a Rich bar on a terminal, plain log lines otherwise).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.errors import (
    EXIT_OK,
    EXIT_SETTINGS,
    EXIT_SIGNAL_BASE,
    LOGGER_NAME,
    fail,
)
from tap_mixpanel_engage.jsonfiles import read_json_object

PROG = "mixpanel-engage"
logger = logging.getLogger(LOGGER_NAME)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; here 2 means bad credentials, so usage errors exit 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_SETTINGS, f"{self.prog}: error: invalid arguments: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("sync", help="fetch every profile and write it through a sink")
    run.add_argument("--config", required=True, type=Path, help="the tap's settings (JSON)")
    run.add_argument("--sink", default="duckdb", help="sink name (default: duckdb)")
    run.add_argument("--path", help="the sink's `path` setting (file or directory)")
    run.add_argument("--sink-config", type=Path, help="more sink settings (JSON)")
    run.add_argument("--state", type=Path, help="state file: read if present, written as we go")
    run.add_argument("--batch-size-rows", type=int, default=10_000, help="records per commit")
    commands.add_parser("sinks", help="list the installed sinks")
    return parser


def _write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Replace the state file atomically: a crash mid-write leaves the previous state."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _sync(args: argparse.Namespace) -> int:
    from tap_mixpanel_engage.library import sync

    config = read_json_object(args.config, "--config")
    sink_config = read_json_object(args.sink_config, "--sink-config") if args.sink_config else {}
    if args.path:
        sink_config["path"] = args.path
    state = read_json_object(args.state, "--state") if args.state and args.state.exists() else None

    def on_commit(new_state: Mapping[str, Any]) -> None:
        if args.state:
            _write_state(args.state, new_state)

    with ExitStack() as stack:
        on_page = None
        if sys.stderr.isatty():
            on_page = stack.enter_context(_RichProgress())
        result = sync(
            config,
            sink=args.sink,
            sink_config=sink_config,
            state=state,
            on_page=on_page,
            batch_size_rows=args.batch_size_rows,
            on_commit=on_commit,
        )
    print(json.dumps(result.to_dict(), indent=2))
    return EXIT_OK


def _sinks() -> int:
    from tap_mixpanel_engage.sinks.registry import installed_sinks

    for name, sink_class in installed_sinks().items():
        print(f"{name}\t{sink_class.description}")
    return EXIT_OK


class _RichProgress:
    """A Rich progress bar fed by ``on_page`` callbacks; log lines print above it.

    Everything goes to stderr: stdout carries only the result JSON, so it can be piped.
    """

    def __enter__(self) -> _RichProgress:
        from rich.console import Console
        from rich.logging import RichHandler
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("profiles"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} pages, {task.fields[records]} records"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            redirect_stdout=False,
        )
        self._bar.__enter__()
        self._task = self._bar.add_task("sync", total=None, records=0)
        # Per-page progress lines would repeat the bar: keep warnings (retries, waits) only.
        self._handler = RichHandler(console=self._bar.console, show_path=False)
        self._handler.setLevel(logging.WARNING)
        root = logging.getLogger()
        self._previous = root.handlers[:]
        root.handlers = [self._handler]
        return self

    def __call__(self, progress: PageProgress) -> None:
        self._bar.update(
            self._task,
            total=progress.total_pages,
            advance=1,
            records=progress.records,
        )

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().handlers = self._previous
        self._bar.__exit__(None, None, None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (the console script exits with it)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        if args.command == "sinks":
            return _sinks()
        return _sync(args)
    except KeyboardInterrupt:
        message = "interrupted; the state file holds the last commit"
        return fail(PROG, message, EXIT_SIGNAL_BASE + 2)
    except Exception as exc:
        # One line for users; the traceback only when debug logging is on.
        logger.debug("failed", exc_info=True)
        return fail(PROG, exc)


def entry_point() -> None:
    """Console script wrapper."""
    sys.exit(main())
