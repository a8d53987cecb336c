"""Drive singer-io tap-mixpanel 1.8.0 (the public peer) against a fake Engage API and measure it.

The peer runs in its own venv (``.bench/tap-mixpanel``) through ``run_tap_mixpanel.py``, which
redirects its hard-coded mixpanel.com URLs to the fake. Discovery is done offline (the tap's
own discovery needs two properties endpoints the fake does not serve), so a run costs the fake
exactly what a real sync costs: one access check (``GET /api/2.0/engage``, default page size)
plus ``ceil(total / 250)`` engage pages, sequentially.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.peers.venvs import ensure_peer_venv, venv_python

REQUIREMENT = "tap-mixpanel==1.8.0"
VENV_NAME = "tap-mixpanel"
WRAPPER = Path(__file__).with_name("run_tap_mixpanel.py")
PAGE_SIZE = 250  # hard-coded in tap_mixpanel.streams.MixPanel.sync (`limit = 250`)
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_METRIC = re.compile(r"METRIC: (\{.*\})\s*$")


@dataclass(frozen=True)
class PeerRun:
    """What one peer run cost and produced."""

    wall_seconds: float
    records: int
    exit_code: int
    peak_rss_bytes: int | None
    http_requests: int  # timed by the tap's metrics: engage pages, not the access check
    stderr_tail: str


def tap_config(api_secret: str) -> dict[str, str]:
    """Return the smallest config tap-mixpanel 1.8.0 accepts (its REQUIRED_CONFIG_KEYS + window).

    ``start_date`` only matters for date-windowed streams; engage is a full-table stream that
    runs one window, so any recent date works.
    """
    start = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT00:00:00Z")
    return {
        "api_secret": api_secret,
        "date_window_size": "30",
        "attribution_window": "5",
        "project_timezone": "UTC",
        "start_date": start,
        "user_agent": "tap-mixpanel-engage peer benchmark",
        "select_properties_by_default": "false",
        "request_timeout": "60",
    }


def _mixpanel_type(value: Any) -> str:
    """Map a JSON value to the property type names ``/api/2.0/engage/properties`` reports."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return "datetime"
    return "string"


def sample_engage_properties(fake_url: str, api_secret: str) -> dict[str, dict[str, str]]:
    """Infer the ``engage/properties`` answer from one page of the fake, first type seen wins.

    The peer's real discovery asks Mixpanel for this; without it the peer would emit only
    ``distinct_id`` and look unfairly cheap. Costs one request to the fake, outside any timing.
    """
    token = base64.b64encode(f"{api_secret}:".encode()).decode()
    request = urllib.request.Request(
        f"{fake_url.rstrip('/')}/api/2.0/engage?page_size={PAGE_SIZE}",
        headers={"Authorization": f"Basic {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.load(response)
    found: dict[str, dict[str, str]] = {}
    for profile in page.get("results", []):
        for name, value in (profile.get("$properties") or {}).items():
            if value is not None and name not in found:
                found[name] = {"type": _mixpanel_type(value)}
    return found


def _read_metrics(stderr: str) -> tuple[int, int]:
    """Sum singer-python's ``record_count`` and ``http_request_duration`` metric lines."""
    records = requests = 0
    for line in stderr.splitlines():
        match = _METRIC.search(line)
        if not match:
            continue
        point = json.loads(match.group(1))
        if point.get("metric") == "record_count":
            records += int(point.get("value", 0))
        elif point.get("metric") == "http_request_duration":
            requests += 1
    return records, requests


def _count_records(out: Path) -> int:
    with out.open("rb") as lines:
        return sum(1 for line in lines if b'"type": "RECORD"' in line or b'"type":"RECORD"' in line)


def _run_measured(
    cmd: list[str], env: Mapping[str, str], stdout_path: str, stderr_path: Path, timeout: float
) -> tuple[int, float, int | None]:
    """Run ``cmd`` and reap it with ``os.wait4`` to get this child's own peak RSS.

    ``getrusage(RUSAGE_CHILDREN)`` would report the largest of *all* children ever reaped by
    this process (pip, fake servers...), so it is not used.
    """
    start = time.perf_counter()
    with open(stdout_path, "wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_maxrss * 1024  # Linux reports KiB


def run_peer_tap(
    fake_url: str,
    api_secret: str,
    out: Path | None,
    *,
    properties: Mapping[str, Mapping[str, str]] | None = None,
    timeout: float = 1800.0,
) -> PeerRun:
    """Sync only the ``engage`` stream of tap-mixpanel 1.8.0 from ``fake_url`` and measure it.

    Args:
        fake_url: base URL of the fake Engage API, e.g. ``http://127.0.0.1:8123``.
        api_secret: the fake's legacy project secret (the peer supports nothing else).
        out: file for the Singer stream; ``None`` sends it to /dev/null and counts records
            from the tap's own ``record_count`` metrics instead.
        properties: the ``engage/properties`` results to build the schema from; ``None`` samples
            page 0 of the fake (one extra, untimed request).
        timeout: seconds before the peer is killed.

    Returns:
        A ``PeerRun``; ``wall_seconds`` covers the peer process only (start-up, access check,
        all pages, writing), not venv creation or catalog building.
    """
    venv = ensure_peer_venv(VENV_NAME, REQUIREMENT)
    python = str(venv_python(venv))
    props = (
        dict(properties)
        if properties is not None
        else sample_engage_properties(fake_url, api_secret)
    )
    with tempfile.TemporaryDirectory(prefix="peer-tap-mixpanel-") as tmp:
        work = Path(tmp)
        (work / "props.json").write_text(json.dumps(props))
        (work / "config.json").write_text(json.dumps(tap_config(api_secret)))
        # -P: keep this folder off sys.path, or `import tap_mixpanel` finds this very module.
        subprocess.run(
            [
                python,
                "-P",
                str(WRAPPER),
                "make-catalog",
                "--out",
                str(work / "catalog.json"),
                "--properties",
                str(work / "props.json"),
            ],
            check=True,
        )
        env = {**os.environ, "FAKE_ENGAGE_URL": fake_url}
        cmd = [
            python,
            "-P",
            str(WRAPPER),
            "--config",
            str(work / "config.json"),
            "--catalog",
            str(work / "catalog.json"),
        ]
        stderr_path = work / "stderr.log"
        code, wall, rss = _run_measured(
            cmd, env, str(out) if out else os.devnull, stderr_path, timeout
        )
        stderr = stderr_path.read_text(errors="replace")
    metric_records, requests = _read_metrics(stderr)
    records = _count_records(out) if out else metric_records
    return PeerRun(
        wall_seconds=wall,
        records=records,
        exit_code=code,
        peak_rss_bytes=rss,
        http_requests=requests,
        stderr_tail="\n".join(stderr.splitlines()[-20:]),
    )
