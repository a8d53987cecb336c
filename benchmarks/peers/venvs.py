"""Isolated virtualenvs for public peer taps and targets.

Peers bring dependencies that clash with ours (tap-mixpanel needs singer-python and jsonschema
2.6, target-duckdb its own duckdb), so each gets its own venv under ``<repo>/.bench/<name>/``,
created on first use. A marker file records the requirement it was built for, so a second call is
free and a changed requirement rebuilds the venv.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / ".bench"
MARKER = ".peer-installed"


def venv_python(venv: Path) -> Path:
    """Return the interpreter of ``venv`` (POSIX layout; this project only runs on Linux)."""
    return venv / "bin" / "python"


def venv_bin(venv: Path, name: str) -> Path:
    """Return the path of console script ``name`` installed in ``venv``."""
    return venv / "bin" / name


def _marker_text(requirement: str) -> str:
    digest = hashlib.sha256(requirement.encode()).hexdigest()[:16]
    return f"{requirement}\n{digest}\n"


def ensure_peer_venv(name: str, requirement: str, *, base: Path | None = None) -> Path:
    """Create (once) a venv ``<base>/<name>`` with ``requirement`` installed and return its path.

    Idempotent: if the marker file matches ``requirement`` the venv is returned untouched. A venv
    built for another requirement, or left half-built by an interrupted run, is removed and rebuilt.

    Args:
        name: folder name under ``.bench/``, e.g. ``"tap-mixpanel"``.
        requirement: a pip requirement string, e.g. ``"tap-mixpanel==1.8.0"``.
        base: parent folder; defaults to ``<repo>/.bench`` (gitignored).

    Raises:
        subprocess.CalledProcessError: venv creation or pip install failed.
    """
    venv = (base or BENCH_DIR) / name
    marker = venv / MARKER
    wanted = _marker_text(requirement)
    if marker.is_file() and marker.read_text() == wanted and venv_python(venv).exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # The interpreter running this is 3.11+, which the peers accept; `python3` on PATH may not be.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # setuptools: old peers import pkg_resources, which Python 3.12+ venvs no longer ship.
    subprocess.run([*pip, requirement, "setuptools<81"], check=True)
    marker.write_text(wanted)
    return venv


if __name__ == "__main__":
    # `python -m benchmarks.peers.venvs NAME REQUIREMENT` prepares a venv ahead of a benchmark.
    print(ensure_peer_venv(sys.argv[1], sys.argv[2]))
