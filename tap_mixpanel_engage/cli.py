"""``mixpanel-engage``: sync profiles into a sink in one process, or list the installed sinks.

Settings come from ``--config`` (the tap's JSON), then the environment for credentials
(:data:`SECRET_VARIABLES`: never a flag, never printed), then the flags, each overriding the
one before. Exit codes: 0 done, 2 authentication or authorisation failure, 3 invalid settings
(including command-line usage errors), 1 anything else. The result is printed as JSON on stdout;
progress goes to stderr (a Rich bar on a terminal, plain log lines otherwise).
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
from typing import TYPE_CHECKING, Any, NoReturn

from tap_mixpanel_engage.config_schema import REGION_HOSTS
from tap_mixpanel_engage.engage.entities import DEFAULT_STREAMS, STREAMS
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.errors import (
    EXIT_OK,
    EXIT_SETTINGS,
    EXIT_SIGNAL_BASE,
    LOGGER_NAME,
    SettingsError,
    fail,
)
from tap_mixpanel_engage.jsonfiles import read_json_object

if TYPE_CHECKING:
    from rich.progress import TaskID

PROG = "mixpanel-engage"
SECRET_VARIABLES = {
    "username": "TAP_MIXPANEL_ENGAGE_USERNAME",
    "secret": "TAP_MIXPANEL_ENGAGE_SECRET",
    "api_secret": "TAP_MIXPANEL_ENGAGE_API_SECRET",
}
"""Credentials come from these variables (Meltano's names for the tap's settings)."""
logger = logging.getLogger(LOGGER_NAME)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; here 2 means bad credentials, so usage errors exit 3."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):  # name the options, never echo values (a secret?)
            words = message[len(prefix) :].split()
            message = prefix + " ".join(w if w.startswith("-") else "..." for w in words)
        self.print_usage(sys.stderr)
        self.exit(EXIT_SETTINGS, f"{self.prog}: error: invalid arguments: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("sync", help="fetch every profile and write it through a sink")
    run.add_argument("--config", type=Path, help="the tap's settings (JSON); flags override it")
    run.add_argument(
        "--stream",
        action="append",
        choices=STREAMS,
        help=f"a stream to sync (repeat for more; default: {', '.join(DEFAULT_STREAMS)})",
    )
    run.add_argument("--where", help="the `where` setting: which user profiles")
    run.add_argument(
        "--cohort",
        action="append",
        type=int,
        metavar="ID",
        help="cohort_members of these cohorts (repeat); with engage, its one cohort filter",
    )
    run.add_argument(
        "--group",
        action="append",
        metavar="GROUP_KEY=DATA_GROUP_ID",
        help="a group key for group_profiles, e.g. company_id=-1405123841946871899 (repeat)",
    )
    run.add_argument("--workers", type=int, help="pages fetched at once (max_workers, 1 to 5)")
    run.add_argument("--page-size", type=int, help="profiles per page (page_size)")
    run.add_argument("--project-id", type=int, help="the Mixpanel project id")
    run.add_argument("--region", choices=list(REGION_HOSTS), help="where the project's data lives")
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


def tap_config(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The tap's settings: ``--config``, then credentials from the environment, then flags.

    Raises:
        SettingsError: a ``--group`` that is not KEY=ID, or several ``--cohort`` with engage.
    """
    config = read_json_object(args.config, "--config") if args.config else {}
    for name, variable in SECRET_VARIABLES.items():
        if environ.get(variable):
            config[name] = environ[variable]
    flags = {
        "where": args.where,
        "max_workers": args.workers,
        "page_size": args.page_size,
        "project_id": args.project_id,
        "region": args.region,
    }
    config.update({name: value for name, value in flags.items() if value is not None})
    if args.group:
        config["groups"] = [_group(text) for text in args.group]
    if args.cohort:
        config["cohort_ids"] = args.cohort
        if "engage" in (args.stream or DEFAULT_STREAMS):
            if len(args.cohort) > 1:
                raise SettingsError(
                    "--cohort: engage filters by one cohort; give one --cohort, or sync "
                    "--stream cohort_members for the members of several"
                )
            config["filter_by_cohort"] = args.cohort[0]
    return config


def _group(text: str) -> dict[str, str]:
    key, equals, group_id = text.partition("=")
    if not equals or not key.strip() or not group_id.strip():
        raise SettingsError(f"--group: expected GROUP_KEY=DATA_GROUP_ID, got {text!r}")
    return {"data_group_id": group_id.strip(), "group_key": key.strip()}


def _sync(args: argparse.Namespace) -> int:
    from tap_mixpanel_engage.library import sync

    config = tap_config(args, os.environ)
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
            streams=args.stream or DEFAULT_STREAMS,
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
            TextColumn("{task.fields[stream]}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} pages, {task.fields[records]} records"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            redirect_stdout=False,
        )
        self._bar.__enter__()
        self._task: TaskID | None = None
        # Per-page progress lines would repeat the bar: keep warnings (retries, waits) only.
        self._handler = RichHandler(console=self._bar.console, show_path=False)
        self._handler.setLevel(logging.WARNING)
        root = logging.getLogger()
        self._previous = root.handlers[:]
        root.handlers = [self._handler]
        return self

    def __call__(self, progress: PageProgress) -> None:
        if self._task is None or progress.page == 0:  # one bar per export (stream, group...)
            self._task = self._bar.add_task("sync", total=None, records=0, stream=progress.stream)
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
