"""Measure the peer tap once against a fresh fake Engage API and print one JSON line.

Run: ``.venv/bin/python -m benchmarks.peers.measure_tap_mixpanel --profiles 2000 --latency 0.3``.
Kept apart from ``tap_mixpanel.py`` so the driver does not depend on the fake API's module.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from benchmarks.peers.tap_mixpanel import run_peer_tap

SECRET = "legacy-secret"


def main(argv: list[str] | None = None) -> None:
    """Start the fake, warm the peer venv, run the peer once, print its figures and the fake's."""
    from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.3)
    args = parser.parse_args(argv)
    settings = FakeSettings(profiles=args.profiles, latency=args.latency, api_secret=SECRET)
    with FakeEngageAPI(settings) as api:
        before = api.stats.snapshot()
        run = run_peer_tap(api.url, SECRET, None)
        after = api.stats.snapshot()
    figures = asdict(run)
    figures.pop("stderr_tail")
    figures.update(profiles=args.profiles, latency=args.latency)
    print(json.dumps({"peer": figures, "fake_before": before, "fake_after": after}, default=str))
    if run.exit_code != 0:
        print(run.stderr_tail)


if __name__ == "__main__":
    main()
