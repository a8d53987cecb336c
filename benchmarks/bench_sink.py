"""Records per second of the DuckDB sink alone, on realistic engage profile records."""

from __future__ import annotations

import gc
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.sinks.duckdb_sink import DuckDBSink

ENGAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "distinct_id": {"type": "string"},
        "properties": {"type": ["null", "object"]},
        **{
            name: {"type": ["null", "string"]}
            for name in (
                "email",
                "name",
                "first_name",
                "last_name",
                "phone",
                "city",
                "region",
                "country_code",
                "timezone",
            )
        },
        "created": {"type": ["null", "string"], "format": "date-time"},
        "last_seen": {"type": ["null", "string"], "format": "date-time"},
    },
}

_CITIES = ["Berlin", "São Paulo", "Zürich", "東京", "New York", ""]


def profile(i: int, rng: random.Random) -> dict[str, Any]:
    """One engage record shaped like the tap's output, with drifting property types."""
    first, last = rng.choice(["Ann", "Bo", "Chloé"]), rng.choice(["Lee", "O'Neil", "Diaz"])
    props: dict[str, Any] = {f"$custom_{j}": rng.random() * 1000 for j in range(8)}
    props.update({f"tag_{j}": f"value-{rng.randrange(10_000)}" for j in range(8)})
    props["plan"] = rng.choice(["free", "pro", 12, None])
    props["Plan"] = rng.choice(["Free", "Pro"])
    props["lists"] = [1, "two", {"three": 3.5}]
    props["nested"] = {"a": {"b": [True, False, None]}, "empty": ""}
    props["$email"] = f"user{i}@example.com"
    return {
        "distinct_id": f"user-{i}",
        "properties": props,
        "email": f"user{i}@example.com",
        "name": f"{first} {last}",
        "first_name": first,
        "last_name": last,
        "phone": None if i % 3 else "+49 30 1234567",
        "city": rng.choice(_CITIES),
        "region": "BE",
        "country_code": "DE",
        "timezone": "Europe/Berlin",
        "created": f"2023-0{1 + i % 9}-1{i % 10}T10:00:00Z",
        "last_seen": None if i % 5 == 0 else f"2024-06-{10 + i % 19}T23:08:40Z",
    }


def bench_duckdb_sink(n: int = 100_000, batch_size: int = 10_000) -> float:
    """Load ``n`` fresh profiles in batches of ``batch_size`` into a new file; records/s."""
    rng = random.Random(7)
    records = [profile(i, rng) for i in range(n)]
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory() as tmp:
        sink = DuckDBSink({"path": str(Path(tmp) / "bench.duckdb")})
        start = time.perf_counter()
        try:
            sink.open_stream("engage", ENGAGE_SCHEMA, ["distinct_id"])
            for offset in range(0, n, batch_size):
                sink.write_batch("engage", records[offset : offset + batch_size])
                sink.commit()
        finally:
            sink.close()  # timed too: closing checkpoints what the WAL still holds
        elapsed = time.perf_counter() - start
    gc.unfreeze()
    return n / elapsed


if __name__ == "__main__":
    print(f"duckdb sink: {bench_duckdb_sink():,.0f} records/s")
