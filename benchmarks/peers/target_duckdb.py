"""The public peer target, PyPI ``target-duckdb`` 0.8.0, in its own venv.

Meltano users load Mixpanel data with it, so our tap must load correctly into it; it is also the
baseline for our own target. Its venv lives in ``.bench/target-duckdb`` and brings its own
``duckdb`` (whatever the index has, 2.x at the time of writing), so query its files with that
venv's interpreter (``query_peer_db``): a database file is only guaranteed readable by the DuckDB
version that wrote it.

Executable: ``<repo>/.bench/target-duckdb/bin/target-duckdb`` (``target_executable()``), run as
``target-duckdb --config CONFIG < singer.jsonl``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.peers.venvs import ensure_peer_venv, venv_bin, venv_python

REQUIREMENT = "target-duckdb==0.8.0"
VENV_NAME = "target-duckdb"


def target_config(
    filepath: Path, default_target_schema: str = "mixpanel", **extra: Any
) -> dict[str, Any]:
    """Return a target-duckdb config: DuckDB file ``filepath``, tables in ``default_target_schema``.

    ``extra`` passes other documented settings through (``batch_size_rows``,
    ``validate_records``, ``add_metadata_columns``, ``data_flattening_max_level``...).
    """
    return {"filepath": str(filepath), "default_target_schema": default_target_schema, **extra}


def target_executable() -> Path:
    """Return the peer's console script, creating its venv on first use."""
    return venv_bin(ensure_peer_venv(VENV_NAME, REQUIREMENT), "target-duckdb")


def run_peer_target(
    singer_input: Path, config: dict[str, Any], config_path: Path, *, timeout: float = 600.0
) -> subprocess.CompletedProcess[str]:
    """Feed ``singer_input`` to target-duckdb with ``config`` (written to ``config_path``).

    Does not raise on a non-zero exit: several of the peer's bugs show up as failures, and the
    caller wants the stderr.
    """
    config_path.write_text(json.dumps(config))
    with singer_input.open("rb") as stdin:
        return subprocess.run(
            [str(target_executable()), "--config", str(config_path)],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def query_peer_db(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a file the peer wrote, with the peer venv's own DuckDB (read-only)."""
    python = venv_python(ensure_peer_venv(VENV_NAME, REQUIREMENT))
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))\n"
    )
    done = subprocess.run(
        [str(python), "-c", script, str(db_path), sql], capture_output=True, text=True, check=True
    )
    return [tuple(row) for row in json.loads(done.stdout)]
