"""The README's "Scaling out" recipe under real Meltano: one run per project into one PostgreSQL.

The loader definition is the README's own YAML block, added to a copy of this project's
meltano.yml in a temporary directory (plugin paths made absolute), so the README cannot drift
from what works. Two projects (two fake Engage APIs) run at once with ``--state-id-suffix``, each
into its own schema of one real server, and Meltano keeps a bookmark per project.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg import sql

from demo.meltano_project import REPO, ensure_meltano, meltano_env
from scripts.update_readme import only_block, readme_section
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.postgres import Database

pytestmark = pytest.mark.slow
LOADER = "target-mixpanel-postgres"


def make_project(directory: Path) -> Path:
    """A copy of meltano.yml with the README's loader added; ``-e .`` paths point at the repo."""
    project: dict[str, Any] = yaml.safe_load((REPO / "meltano.yml").read_text())
    (loader,) = yaml.safe_load(only_block(readme_section("## Scaling out"), "yaml"))
    project["plugins"]["loaders"] = [
        p for p in project["plugins"]["loaders"] if p["name"] == "target-duckdb"
    ] + [loader]
    for plugins in project["plugins"].values():
        for plugin in plugins:
            plugin["pip_url"] = " ".join(
                f"-e {REPO / path}" for path in plugin["pip_url"].split() if path != "-e"
            )
    directory.mkdir()
    (directory / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    return directory


def meltano(project: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``meltano ARGS`` in ``project``; its output goes to a pipe read at the end."""
    return subprocess.Popen(
        [str(ensure_meltano()), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def test_one_meltano_run_per_project_at_once_into_one_postgres(
    tmp_path: Path, pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    project = make_project(tmp_path / "project")
    apis = {
        "web": fake_api(profiles=2000, seed=1, project_id=11),
        "ios": fake_api(profiles=3000, seed=2, project_id=12),
    }
    state_backend = f"file://{tmp_path / 'state'}"  # shared by both, one state ID per project

    def env(name: str) -> dict[str, str]:
        api = apis[name]
        return meltano_env(
            api_url=api.url,
            db_path=tmp_path / "unused.duckdb",
            sys_dir=project / f".meltano-{name}",  # each run's own config and catalog files
            project_id=api.settings.project_id,
            extra={
                "MELTANO_STATE_BACKEND_URI": state_backend,
                "TARGET_MIXPANEL_POSTGRES_DSN": pg_db.dsn,
                "TARGET_MIXPANEL_POSTGRES_SCHEMA": f"mixpanel_{name}",
                "TAP_MIXPANEL_ENGAGE_PAGE_SIZE": "500",
            },
        )

    installs = [meltano(project, ["install", "--parallelism", "1"], env(name)) for name in apis]
    for process in installs:
        finish(process)
    runs = [
        meltano(
            project, ["run", f"--state-id-suffix={name}", "tap-mixpanel-engage", LOADER], env(name)
        )
        for name in apis
    ]
    for process in runs:
        finish(process)
    for name, api in apis.items():
        schema = f"mixpanel_{name}"
        ids = pg_db.ids(schema=schema)
        assert len(ids) == api.settings.profiles
        assert set(ids) == api.expected_ids()
        state_id = f"dev:tap-mixpanel-engage-to-{LOADER}:{name}"
        got = finish(meltano(project, ["state", "get", state_id], env(name)))
        stored = json.loads(got.strip().splitlines()[-1])
        bookmark = stored["singer_state"]["bookmarks"]["engage"]["replication_key_value"]
        query = sql.SQL("SELECT max(last_seen) FROM {}.engage").format(sql.Identifier(schema))
        with pg_db.connect() as conn:
            ((latest,),) = conn.execute(query).fetchall()
        assert datetime.fromisoformat(bookmark) == latest
