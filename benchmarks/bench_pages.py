"""Page-size benchmarks (issue 14) and the simulated long export (issue 11).

Big pages must not cost memory or speed; the default page size must spend few queries; the
tap must emit fast; a long export under the real limits must stay near the floor the budget
allows. Every tap figure is a whole tap process against the fake API in its own process.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from benchmarks.bench_tap import Row
from benchmarks.common import fake_server, tap_command, timed, write_json
from benchmarks.long_export import (
    PAGE_SIZE,
    PAGES,
    PER_HOUR,
    SCALED_GROWTH,
    SCALED_LATENCY,
    SCALED_SEED,
    SCALED_WINDOW,
    export_under_limits,
    floor_seconds,
    scaled_tap_settings,
)
from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings

RSS_GOAL_MB = 200
RATE_GOAL = 70_000
DEFAULT_QUERY_GOAL = 25


def _tap(config: dict[str, object]) -> tuple[float, float]:
    """Run the tap once to /dev/null; (wall seconds, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = timed(tap_command(write_json(Path(tmp), "tap.json", dict(config))))
    if result.returncode != 0:
        raise RuntimeError(f"tap failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.wall, result.peak_rss_mb


def big_pages(profiles: int = 200_000, latency: float = 0.2) -> list[Row]:
    """Wall time and peak memory at page sizes 1,000, 20,000 and 50,000, same fake, same run."""
    sizes = (1_000, 20_000, 50_000)
    runs: dict[int, tuple[float, float]] = {}
    with fake_server(profiles, latency, "--page-size-max", "50000") as api:
        for size in sizes:
            runs[size] = _tap(api.tap_config(page_size=size))
    base = runs[1_000][0]
    big = [runs[s] for s in sizes[1:]]
    met = all(rss < RSS_GOAL_MB for _, rss in big) and all(wall <= base for wall, _ in big)
    measured = "; ".join(f"{s:,}: {wall:.2f} s, {rss:.0f} MB" for s, (wall, rss) in runs.items())
    return [
        Row(
            f"{profiles:,} profiles at {latency:g} s/query by page_size (wall, peak RSS)",
            measured,
            f"20,000 and 50,000: < {RSS_GOAL_MB} MB, no slower than 1,000",
            met,
        )
    ]


def default_page_size(latency: float = 0.2) -> list[Row]:
    """Queries the default settings spend on 200,000 profiles; 20,000 against 1,000-row pages."""
    with fake_server(200_000, latency, "--page-size-max", "50000") as api:
        _tap(api.tap_config())
        queries = int(api.stats()["requests"])
    with fake_server(20_000, latency, "--page-size-max", "50000") as api:
        default, _ = _tap(api.tap_config())
        small, _ = _tap(api.tap_config(page_size=1_000))
    return [
        Row(
            "queries for 200,000 profiles, default settings",
            f"{queries}",
            f"<= {DEFAULT_QUERY_GOAL}",
            queries <= DEFAULT_QUERY_GOAL,
        ),
        Row(
            f"20,000 profiles at {latency:g} s/query: default settings vs page_size 1,000",
            f"{default:.2f} s vs {small:.2f} s",
            "no slower",
            default <= small,
        ),
    ]


def emission(sizes: tuple[int, ...] = (100_000, 200_000), repeats: int = 3) -> list[Row]:
    """Records per second to /dev/null at zero latency, default settings (median of runs)."""
    rows = []
    for profiles in sizes:
        sdk_walls: list[float] = []
        with fake_server(profiles, 0.0, "--page-size-max", "50000") as api:
            walls = [_tap(api.tap_config())[0] for _ in range(repeats)]
            if profiles == sizes[0]:  # the same records through the SDK's per-record path
                mapped = api.tap_config(stream_maps={"engage": {"email": "email"}})
                sdk_walls = [_tap(mapped)[0] for _ in range(repeats)]
        wall = statistics.median(walls)
        rows.append(
            Row(
                f"tap records/s, {profiles:,} profiles, default settings, zero latency, "
                "to /dev/null (whole process)",
                f"{profiles / wall:,.0f}/s (median of {repeats}: "
                + ", ".join(f"{w:.2f}" for w in walls)
                + " s)",
                f">= {RATE_GOAL:,}/s",
                profiles / wall >= RATE_GOAL,
            )
        )
        if sdk_walls:
            sdk = statistics.median(sdk_walls)
            rows.append(
                Row(
                    f"{profiles:,} profiles, zero latency: RECORD lines a page at a time vs the "
                    "SDK's per-record path (a stream map keeping every value: the same records)",
                    f"{wall:.2f} s vs {sdk:.2f} s = {sdk / wall:.2f}x (medians of {repeats})",
                )
            )
    return rows


def long_exports() -> list[Row]:
    """The simulated 200-page export under 60 queries per hour, both ways the limit may count."""
    rows = []
    for every_page_counts, label in ((True, "every page counts"), (False, "page 0 counts")):
        out = export_under_limits(every_page_counts=every_page_counts)
        rows.append(
            Row(
                f"simulated export of {out.pages} pages under 60 queries/hour ({label}), "
                "growing project, idle sessions expire",
                f"{out.answered} queries answered; {out.elapsed:,.0f} s simulated vs floor "
                f"{out.floor:,.0f} s; {out.missing} profiles missing; {out.sessions} sessions",
                "<= 1.05x queries per page, <= 1.1x floor, none missing",
                out.missing == 0
                and out.answered <= 1.05 * out.pages
                and out.elapsed <= 1.1 * out.floor,
            )
        )
    return rows


def scaled_long_exports() -> list[Row]:
    """The long export over real sockets, an hour of six seconds: the real tap, the fake apart.

    The scenario of ``tests/e2e/test_long_export_scaled.py``: 200 pages, 60 queries per window,
    sessions that die after a sixth of a window unused, a project gaining 20 profiles a second.
    """
    with FakeEngageAPI(FakeSettings(profiles=PAGES * PAGE_SIZE, seed=SCALED_SEED)) as local:
        existing = local.expected_ids()
    rows = []
    for every_page_counts, label in ((True, "every page counts"), (False, "page 0 counts")):
        extra = ["--seed", str(SCALED_SEED), "--rate-limit", str(PER_HOUR)]
        extra += ["--rate-window", str(SCALED_WINDOW), "--growth-per-second", str(SCALED_GROWTH)]
        extra += ["--session-idle-timeout", str(SCALED_WINDOW / 6)]
        extra += [] if every_page_counts else ["--rate-limit-page-zero-only"]
        with (
            fake_server(PAGES * PAGE_SIZE, SCALED_LATENCY, *extra) as api,
            tempfile.TemporaryDirectory() as tmp,
        ):
            out = Path(tmp) / "out.jsonl"
            config = write_json(Path(tmp), "tap.json", api.tap_config(**scaled_tap_settings()))
            with out.open("wb") as sink:
                result = timed(tap_command(config), stdout=sink)
            stats = api.stats()
            seen = {
                m["record"]["distinct_id"]
                for m in map(json.loads, out.read_text().splitlines())
                if m["type"] == "RECORD"
            }
        if result.returncode != 0 or result.export_seconds is None:
            raise RuntimeError(f"scaled export failed: {result.stderr[-2000:]}")
        pages = len(stats["pages_served"])
        answered = sum(stats["pages_served"].values()) + stats["expired_sessions"]
        floor = floor_seconds(every_page_counts, window=SCALED_WINDOW, latency=SCALED_LATENCY)
        missing = len(existing - seen)
        rows.append(
            Row(
                f"time-scaled export over loopback ({SCALED_WINDOW:g} s for an hour) of {pages} "
                f"pages under 60 queries/hour ({label}), growing project, idle sessions expire",
                f"{answered} queries answered; export {result.export_seconds:.1f} s (process "
                f"{result.wall:.1f} s) vs floor {floor:.1f} s; {missing} profiles missing; "
                f"{stats['sessions_opened']} sessions",
                "<= 1.05x queries per page, <= 1.25x floor + 1 s, none missing",
                missing == 0
                and answered <= 1.05 * pages
                and result.export_seconds <= 1.25 * floor + 1,
            )
        )
    return rows
