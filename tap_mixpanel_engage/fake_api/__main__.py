"""``python -m tap_mixpanel_engage.fake_api``: run the fake Engage API until SIGTERM or Ctrl-C.

Prints ``fake Engage API listening on http://127.0.0.1:PORT`` (flushed) once the socket is bound,
and with ``--ready-file`` writes the URL there too, so scripts can wait for it without polling the
port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tap_mixpanel_engage.fake_api.api import FakeEngageAPI
from tap_mixpanel_engage.fake_api.settings import FAULT_KINDS, GROWTH_POSITIONS, FakeSettings


def _parser() -> argparse.ArgumentParser:
    d = FakeSettings()
    p = argparse.ArgumentParser(
        prog="python -m tap_mixpanel_engage.fake_api",
        description="A local fake of Mixpanel's Engage (Query Profiles) API.",
    )
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    p.add_argument("--profiles", type=int, default=d.profiles)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--project-id", type=int, default=d.project_id)
    p.add_argument("--username", default=d.username, help="service account user name")
    p.add_argument("--secret", default=d.secret, help="service account secret")
    p.add_argument("--api-secret", default=d.api_secret, help="legacy project API secret")
    p.add_argument("--latency", type=float, default=d.latency, help="seconds per query")
    p.add_argument("--jitter", type=float, default=d.jitter, help="fraction, 0.2 = +-20%%")
    p.add_argument("--max-concurrent", type=int, default=None)
    p.add_argument("--rate-limit", type=int, default=None, help="queries per rate window")
    p.add_argument("--rate-window", type=float, default=d.rate_window, help="seconds")
    p.add_argument(
        "--rate-limit-page-zero-only",
        action="store_true",
        help="only page 0 (a new query) counts toward --rate-limit",
    )
    p.add_argument("--session-lifetime", type=float, default=None, help="seconds from page 0")
    p.add_argument("--session-idle-timeout", type=float, default=None, help="seconds unused")
    p.add_argument("--growth-per-second", type=float, default=d.growth_per_second)
    p.add_argument("--growth-at", choices=GROWTH_POSITIONS, default=d.growth_at)
    p.add_argument("--fault-rate", type=float, default=d.fault_rate, help="0..1")
    p.add_argument(
        "--fault-kinds",
        default=",".join(d.fault_kinds),
        help=f"comma-separated subset of {','.join(FAULT_KINDS)}",
    )
    p.add_argument("--fail-with-status", type=int, default=None, help="answer every query so")
    p.add_argument("--page-size-default", type=int, default=d.page_size_default)
    p.add_argument("--page-size-max", type=int, default=d.page_size_max)
    p.add_argument(
        "--group",
        action="append",
        metavar="DATA_GROUP_ID=PROFILES",
        help="a group key and its number of group profiles (repeat; default: "
        + ", ".join(f"{g}={n}" for g, n in d.groups)
        + ")",
    )
    p.add_argument("--cohorts", type=int, default=d.cohorts, help="cohorts in the Cohorts list")
    p.add_argument(
        "--cohort-ghosts", type=int, default=d.cohort_ghosts, help="members without a profile"
    )
    p.add_argument(
        "--warm", action="store_true", help="build every profile before listening (benchmarks)"
    )
    p.add_argument("--ready-file", type=Path, default=None, help="write the URL here when ready")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        groups = FakeSettings().groups
        if args.group:
            pairs = [g.rpartition("=") for g in args.group]
            if not all(eq and n.isdigit() for _, eq, n in pairs):
                raise ValueError("--group must be DATA_GROUP_ID=PROFILES")
            groups = tuple((g, int(n)) for g, _, n in pairs)
        settings = FakeSettings(
            profiles=args.profiles,
            seed=args.seed,
            project_id=args.project_id,
            username=args.username,
            secret=args.secret,
            api_secret=args.api_secret,
            latency=args.latency,
            jitter=args.jitter,
            max_concurrent=args.max_concurrent,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            rate_limit_pages=not args.rate_limit_page_zero_only,
            session_lifetime=args.session_lifetime,
            session_idle_timeout=args.session_idle_timeout,
            growth_per_second=args.growth_per_second,
            growth_at=args.growth_at,
            fault_rate=args.fault_rate,
            fault_kinds=tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()),
            fail_with_status=args.fail_with_status,
            page_size_default=args.page_size_default,
            page_size_max=args.page_size_max,
            groups=groups,
            cohorts=args.cohorts,
            cohort_ghosts=args.cohort_ghosts,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        api = FakeEngageAPI(settings, port=args.port)
        if args.warm:
            api.store.warm()
        api.start()
    except OSError as exc:
        print(f"error: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.ready_file is not None:
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(api.url + "\n")
            partial.replace(args.ready_file)  # atomic: readers never see half a URL
        print(f"fake Engage API listening on {api.url}", flush=True)  # after the file: both ready
        done.wait()  # the signal handler runs on this thread, between waits
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
