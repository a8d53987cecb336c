"""Draw the README chart: export time against number of profiles (runs in its own venv).

matplotlib pulls in numpy, and the Singer SDK imports numpy through joblib when it is installed,
which adds about 0.12 s to every tap start. Users' installs have no numpy, so neither does the
measured venv: ``make bench`` draws the chart with the interpreter of ``.bench/plot``.

    python plot_export_time.py POINTS.json OUT.png
"""

from __future__ import annotations

import json
import sys


def main(points_path: str, out_path: str) -> None:
    """Read ``[{"profiles", "parallel", "sequential", "peer", "latency"}]`` and write a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(points_path) as handle:
        points = json.load(handle)["points"]
    sizes = [p["profiles"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(sizes, [p["peer"] for p in points], "o-", label="singer-io tap-mixpanel 1.8.0")
    ax.plot(
        sizes,
        [p["sequential"] for p in points],
        "s-",
        label="this tap, one query at a time, 1,000 per page",
    )
    ax.plot(sizes, [p["parallel"] for p in points], "^-", label="this tap, max_workers=5")
    ax.set_xlabel("profiles")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"Export time against the fake Engage API at {points[0]['latency']:g} s per query")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
