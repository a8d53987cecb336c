"""Running this repository's Meltano project from Python: the tool venv, the env, the commands.

Shared by ``demo/run_demo.py`` and the end-to-end tests so both drive Meltano the same way.
Meltano lives in its own venv (``.venv-meltano``): its dependencies (SQLAlchemy, structlog, uv...)
must not be resolved together with the tap's. ``python -m demo.meltano_project`` creates it; the
Makefile calls that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MELTANO_REQUIREMENT = "meltano==4.4.*"
MELTANO_VENV = REPO / ".venv-meltano"
MARKER = ".meltano-installed"
STATE_ID = "dev:tap-mixpanel-engage-to-target-duckdb"
"""Where ``meltano run tap-mixpanel-engage target-duckdb`` keeps its state (environment dev)."""
_INHERITED_ELSEWHERE = frozenset(
    {
        "MELTANO_PROJECT_ROOT",
        "MELTANO_SYS_DIR_ROOT",
        "MELTANO_DATABASE_URI",
        "MELTANO_ENVIRONMENT",
        "MELTANO_STATE_BACKEND_URI",
        "VIRTUAL_ENV",
    }
)
"""Variables that would point Meltano (or the uv it runs) at another project, venv or state."""


def ensure_meltano(venv: Path = MELTANO_VENV) -> Path:
    """Create (once) a venv with Meltano and return the ``meltano`` executable.

    Idempotent: a marker holding the requirement skips the work; a changed pin reinstalls.

    Raises:
        subprocess.CalledProcessError: venv creation or pip failed.
    """
    meltano = venv / "bin" / "meltano"
    marker = venv / MARKER
    if meltano.exists() and marker.is_file() and marker.read_text() == MELTANO_REQUIREMENT:
        return meltano
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, MELTANO_REQUIREMENT], check=True)
    marker.write_text(MELTANO_REQUIREMENT)
    return meltano


def meltano_env(
    *,
    api_url: str,
    db_path: Path,
    sys_dir: Path | None = None,
    database: Path | None = None,
    project_id: int = 1234,
    username: str = "svc-user",
    secret: str = "svc-secret",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a Meltano command against ``api_url``, loading into ``db_path``.

    Plugin settings use Meltano's standard variables (``TAP_MIXPANEL_ENGAGE_<SETTING>``,
    ``TARGET_DUCKDB_<SETTING>``); the defaults are the fake Engage API's credentials.

    Args:
        sys_dir: Meltano's system dir (plugin venvs, state DB); default ``<repo>/.meltano``.
        database: a separate SQLite state database, so a test starts without stored state.
        extra: more variables, e.g. ``{"TAP_MIXPANEL_ENGAGE_PAGE_SIZE": "500"}``.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_MIXPANEL_ENGAGE_", "TARGET_DUCKDB_"))
        and key not in _INHERITED_ELSEWHERE
    }
    env.update(
        {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_LOG_LEVEL": "info",
            "TAP_MIXPANEL_ENGAGE_API_URL": api_url,
            "TAP_MIXPANEL_ENGAGE_PROJECT_ID": str(project_id),
            "TAP_MIXPANEL_ENGAGE_USERNAME": username,
            "TAP_MIXPANEL_ENGAGE_SECRET": secret,
            "TARGET_DUCKDB_PATH": str(db_path),
        }
    )
    if sys_dir is not None:
        env["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
    if database is not None:
        env["MELTANO_DATABASE_URI"] = f"sqlite:///{database}"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class MeltanoResult:
    """One finished Meltano command: exit code, wall time, combined output (also in ``log``)."""

    returncode: int
    seconds: float
    output: str
    log: Path

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` of output, for failure messages."""
        return "\n".join(self.output.splitlines()[-lines:])


def run_meltano(
    meltano: Path,
    args: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    *,
    timeout: float = 600.0,
) -> MeltanoResult:
    """Run ``meltano ARGS`` in this project, writing stdout and stderr to ``log``.

    Never raises on a non-zero exit: callers print or assert on the log instead.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as out:
        done = subprocess.run(
            [str(meltano), *args],
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    seconds = time.perf_counter() - started
    return MeltanoResult(done.returncode, seconds, log.read_text(errors="replace"), log)


def stored_state(meltano: Path, env: Mapping[str, str], state_id: str = STATE_ID) -> Any:
    """The Singer state Meltano stored under ``state_id`` (``None`` when there is none)."""
    done = subprocess.run(
        [str(meltano), "state", "get", state_id],
        cwd=REPO,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # `state get` prints the JSON document on stdout (logs go to stderr); empty when unset.
    text = done.stdout.strip()
    return json.loads(text).get("singer_state") if text else None


def plugin_python(sys_dir: Path, plugin_type: str, name: str) -> Path:
    """The interpreter of an installed plugin's venv, e.g. to read the DuckDB file it wrote."""
    return sys_dir / plugin_type / name / "venv" / "bin" / "python"


_QUERY = (
    "import duckdb, json, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "try:\n"
    "    print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))\n"
    "finally:\n"
    "    con.close()\n"
)


def query_db(python: Path, db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` read-only on ``db_path`` with ``python``'s DuckDB (the writer's version).

    A DuckDB file is only guaranteed readable by the DuckDB that wrote it, and each plugin venv
    resolves its own; values that JSON cannot hold (timestamps) come back as ``str``.
    """
    done = subprocess.run(
        [str(python), "-c", _QUERY, str(db_path), sql],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [tuple(row) for row in json.loads(done.stdout)]


if __name__ == "__main__":
    print(ensure_meltano())
