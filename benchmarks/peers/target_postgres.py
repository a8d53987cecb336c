"""The public peer loader for PostgreSQL, MeltanoLabs ``target-postgres`` 0.8.1, in its own venv.

Teams that load Mixpanel into PostgreSQL with Meltano use it, so our tap's output must load
exactly into it (``tests/e2e/test_target_postgres_peer.py``), and it is the baseline the postgres
sink is measured against (``benchmarks/bench_postgres.py``). Its venv is
``.bench/target-postgres``; it reaches the throwaway server over the unix socket (the URL's
``host`` is the socket directory, as for libpq).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.peers.venvs import ensure_peer_venv, venv_bin

REQUIREMENT = "meltanolabs-target-postgres==0.8.1"
VENV_NAME = "target-postgres"


def target_config(socket_dir: Path, database: str, **extra: Any) -> dict[str, Any]:
    """A target-postgres config for ``database`` on the server listening in ``socket_dir``.

    COPY is on and rows are upserted by key (``load_method: upsert``), which is what the
    postgres sink does; ``extra`` passes other documented settings through.
    """
    # host/user/... would require a password, which the test server (trust) does not use.
    url = f"postgresql+psycopg://postgres@/{database}?host={socket_dir}"
    return {
        "sqlalchemy_url": url,
        "default_target_schema": "mixpanel",
        "use_copy": True,
        "load_method": "upsert",
        **extra,
    }


def target_executable() -> Path:
    """The peer's console script, creating its venv on first use."""
    return venv_bin(ensure_peer_venv(VENV_NAME, REQUIREMENT), "target-postgres")
