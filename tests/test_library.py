"""The Python API (``sync``, ``iter_profiles``) against the Singer tools: same rows, same state."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tap_mixpanel_engage import SyncResult, iter_profiles, sync
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tap_mixpanel_engage.sinks.registry import UnknownSinkError, installed_sinks
from tests.helpers import BIN, run_tap, tap_config

StartAPI = Callable[..., FakeEngageAPI]
TABLE = "mixpanel.engage"


class Interrupt(Exception):
    """Raised from a callback to stop a sync the way a crash or Ctrl-C would."""


def interrupt_at(page: int) -> Callable[[PageProgress], None]:
    """An ``on_page`` callback that raises :class:`Interrupt` when ``page`` arrives."""

    def on_page(progress: PageProgress) -> None:
        if progress.page == page:
            raise Interrupt

    return on_page


def table_rows(path: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every column but ``_sdc_*`` metadata, and every row ordered by key."""
    with duckdb.connect(str(path), read_only=True) as con:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'mixpanel' "
                "AND table_name = 'engage' ORDER BY column_index"
            ).fetchall()
            if not name.startswith("_sdc_")
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f"SELECT {select} FROM {TABLE} ORDER BY distinct_id").fetchall()
    return columns, rows


def table_ids(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [i for (i,) in con.execute(f"SELECT distinct_id FROM {TABLE}").fetchall()]


def sync_into(path: Path, config: Mapping[str, Any], **kwargs: Any) -> SyncResult:
    return sync(config, sink_config={"path": str(path)}, **kwargs)


def pipe_into(tmp_path: Path, config: Mapping[str, Any], db: Path) -> list[dict[str, Any]]:
    """Run ``tap-mixpanel-engage | target-mixpanel-duckdb`` as two processes; the states."""
    (tmp_path / "pipe-tap.json").write_text(json.dumps(config))
    (tmp_path / "pipe-target.json").write_text(json.dumps({"path": str(db)}))
    tap_cmd = [str(BIN / "tap-mixpanel-engage"), "--config", str(tmp_path / "pipe-tap.json")]
    target_cmd = [
        str(BIN / "target-mixpanel-duckdb"),
        "--config",
        str(tmp_path / "pipe-target.json"),
    ]
    with subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as tap:
        assert tap.stdout is not None
        with subprocess.Popen(
            target_cmd, stdin=tap.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as target:
            tap.stdout.close()  # the target alone holds the pipe: it sees EOF when the tap ends
            out, err = target.communicate(timeout=120)
        assert tap.wait(timeout=120) == 0
    assert target.returncode == 0, err.decode()
    return [json.loads(line) for line in out.splitlines()]


def test_sync_loads_the_same_rows_as_the_tap_piped_into_the_target(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2500, seed=3)
    config = tap_config(api)
    pipe_db, sync_db = tmp_path / "pipe.duckdb", tmp_path / "sync.duckdb"
    pipe_states = pipe_into(tmp_path, config, pipe_db)
    result = sync_into(sync_db, config)

    assert result.records_written == 2500
    assert result.pages_fetched == 3
    assert sorted(table_ids(sync_db)) == sorted(api.expected_ids())
    pipe_columns, pipe_rows = table_rows(pipe_db)
    sync_columns, sync_rows = table_rows(sync_db)
    assert sync_columns == pipe_columns
    assert len(sync_rows) == 2500
    assert sync_rows == pipe_rows
    assert result.state == pipe_states[-1]


def test_incremental_sync_writes_only_profiles_seen_since_the_bookmark(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=3000)
    config = tap_config(api)
    first = sync_into(tmp_path / "first.duckdb", config)
    bookmark = first.state["bookmarks"]["engage"]["replication_key_value"]
    requests_before = api.stats.snapshot()["requests"]
    touched = set(api.touch(25))

    second = sync_into(tmp_path / "second.duckdb", config, state=first.state)

    written = set(table_ids(tmp_path / "second.duckdb"))
    # >= on the bookmark may also return the profiles seen exactly at the old bookmark.
    assert touched <= written
    assert written == api.expected_ids(where=f'properties["$last_seen"] >= "{bookmark[:19]}"')
    assert second.records_written == len(written)
    assert api.stats.snapshot()["requests"] - requests_before == second.pages_fetched == 1
    assert first.pages_fetched == 3
    assert second.state["bookmarks"]["engage"]["replication_key_value"] > bookmark


def test_a_tap_state_continues_through_sync_and_a_sync_state_through_the_tap(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2000)
    config = tap_config(api)
    tap_first = run_tap(tmp_path, config)
    assert tap_first.returncode == 0, tap_first.stderr
    tap_state = tap_first.states[-1]

    touched = set(api.touch(10))
    by_sync = sync_into(tmp_path / "a.duckdb", config, state=tap_state)
    bookmark = tap_state["bookmarks"]["engage"]["replication_key_value"]
    expected = api.expected_ids(where=f'properties["$last_seen"] >= "{bookmark[:19]}"')
    assert touched <= set(table_ids(tmp_path / "a.duckdb")) == expected

    touched = set(api.touch(10))
    tap_second = run_tap(tmp_path, config, state=dict(by_sync.state))
    assert tap_second.returncode == 0, tap_second.stderr
    bookmark = by_sync.state["bookmarks"]["engage"]["replication_key_value"]
    expected = api.expected_ids(where=f'properties["$last_seen"] >= "{bookmark[:19]}"')
    assert touched <= set(tap_second.ids) == expected
    # Both write the bookmark the same way: the newest last_seen among the records.
    newest = max(r["last_seen"] for r in tap_second.records)
    assert tap_second.states[-1]["bookmarks"]["engage"] == {
        "replication_key": "last_seen",
        "replication_key_value": newest,
    }


def test_a_running_taps_state_resumes_through_sync_without_refetching(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=5000)
    config = tap_config(api)
    tap = run_tap(tmp_path, config)
    assert tap.returncode == 0, tap.stderr
    mid_run = next(
        s
        for s in tap.states
        if s["bookmarks"]["engage"].get("engage_position", {}).get("page") == 1
    )
    served_before = dict(api.stats.pages_served)

    pages: list[int] = []
    result = sync_into(
        tmp_path / "resumed.duckdb", config, state=mid_run, on_page=lambda p: pages.append(p.page)
    )

    assert pages == [2, 3, 4]
    assert api.stats.pages_served[0] == served_before[0] == 1
    assert api.stats.pages_served[1] == served_before[1] == 1
    assert sorted(table_ids(tmp_path / "resumed.duckdb")) == sorted(tap.ids[2000:])
    assert result.state == tap.states[-1]


def test_an_interrupted_sync_resumes_from_its_last_commit_without_refetching(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=10_000)
    config = tap_config(api, page_size=500)
    db = tmp_path / "profiles.duckdb"
    commits: list[Mapping[str, Any]] = []

    with pytest.raises(Interrupt):
        sync_into(
            db, config, on_page=interrupt_at(6), on_commit=commits.append, batch_size_rows=500
        )

    assert len(commits) == 6  # pages 0..5, one commit each
    saved = commits[-1]
    assert saved["bookmarks"]["engage"]["engage_position"]["page"] == 5
    assert len(table_ids(db)) == 3000
    served_before = dict(api.stats.pages_served)

    pages: list[int] = []
    result = sync_into(db, config, state=saved, on_page=lambda p: pages.append(p.page))

    assert pages == list(range(6, 20))
    assert result.records_written == 7000
    for page in range(6):
        assert api.stats.pages_served[page] == served_before[page] == 1
    ids = table_ids(db)
    assert len(ids) == 10_000
    assert set(ids) == api.expected_ids()
    assert "engage_position" not in result.state["bookmarks"]["engage"]


def test_an_interrupted_syncs_state_resumes_through_the_tap(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=4000)
    config = tap_config(api)
    commits: list[Mapping[str, Any]] = []

    with pytest.raises(Interrupt):
        sync_into(
            tmp_path / "a.duckdb",
            config,
            on_page=interrupt_at(2),
            on_commit=commits.append,
            batch_size_rows=1000,
        )
    served_before = dict(api.stats.pages_served)

    tap = run_tap(tmp_path, config, state=dict(commits[-1]))

    assert tap.returncode == 0, tap.stderr
    assert set(table_ids(tmp_path / "a.duckdb")) | set(tap.ids) == api.expected_ids()
    assert len(tap.ids) == 2000
    assert api.stats.pages_served[0] == served_before[0] == 1
    assert api.stats.pages_served[1] == served_before[1] == 1


def test_on_page_arrives_once_per_page_in_order_on_the_calling_thread(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    # Jittered latency makes pages finish out of order in the five workers.
    api = fake_api(profiles=2600, latency=0.02, jitter=0.9, seed=11)
    calls: list[tuple[int, PageProgress]] = []
    result = sync_into(
        tmp_path / "p.duckdb",
        tap_config(api, page_size=250),
        on_page=lambda p: calls.append((threading.get_ident(), p)),
    )
    assert {ident for ident, _ in calls} == {threading.get_ident()}
    progress = [p for _, p in calls]
    assert [p.page for p in progress] == list(range(11))
    assert [p.total_pages for p in progress] == [11] * 11
    assert [p.records_in_page for p in progress] == [250] * 10 + [100]
    assert [p.records for p in progress] == [250 * (i + 1) for i in range(10)] + [2600]
    assert result.pages_fetched == 11
    assert result.records_written == 2600


def test_iter_profiles_yields_the_taps_records_in_the_same_order(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2300, latency=0.01, jitter=0.9)
    config = tap_config(api, page_size=400)
    tap = run_tap(tmp_path, config)
    assert tap.returncode == 0, tap.stderr
    pages: list[int] = []
    records = list(iter_profiles(config, on_page=lambda p: pages.append(p.page)))
    assert records == tap.records
    assert pages == list(range(6))


def test_iter_profiles_checks_settings_when_called_not_when_iterated(
    fake_api: StartAPI,
) -> None:
    api = fake_api(profiles=10)
    with pytest.raises(SettingsError, match="max_workers"):
        iter_profiles(tap_config(api, max_workers=9))
    assert api.stats.snapshot()["requests"] == 0


def test_sync_names_the_installed_sinks_for_an_unknown_one_before_any_request(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=10)
    with pytest.raises(UnknownSinkError) as caught:
        sync(tap_config(api), sink="nope", sink_config={"path": str(tmp_path / "x.duckdb")})
    assert str(caught.value) == (
        f"sink: unknown sink 'nope'; installed sinks: {', '.join(installed_sinks())}"
    )
    assert api.stats.snapshot()["requests"] == 0


@pytest.mark.parametrize("rows", [0, -5])
def test_sync_rejects_a_batch_size_below_one(fake_api: StartAPI, tmp_path: Path, rows: int) -> None:
    api = fake_api(profiles=10)
    with pytest.raises(SettingsError, match="batch_size_rows"):
        sync_into(tmp_path / "x.duckdb", tap_config(api), batch_size_rows=rows)
    assert api.stats.snapshot()["requests"] == 0


def test_sync_accepts_a_singer_state_message_and_a_meltano_state(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=1500)
    config = tap_config(api)
    first = sync_into(tmp_path / "a.duckdb", config)
    wrapped: list[Mapping[str, Any]] = [
        {"type": "STATE", "value": first.state},
        {"singer_state": first.state},
    ]
    for n, state in enumerate(wrapped):
        again = sync_into(tmp_path / f"b{n}.duckdb", config, state=state)
        assert again.records_written < 1500
        assert again.state == first.state
