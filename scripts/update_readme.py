"""Regenerate the README sections that come from code or from docs/ (``--check`` to verify).

Sections live between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. The settings table comes
from ``tap-mixpanel-engage --about --format markdown``; the guides from ``docs/``; the benchmark
table from ``benchmarks/results/latest.md`` (written by ``make bench``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
"""A fenced code block: its language and its text."""


def section(readme: str, heading: str) -> str | None:
    """The ``heading`` section of ``readme`` up to the next ``## ``, if any."""
    match = re.search(
        rf"^{re.escape(heading)}[ \t]*\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL
    )
    return None if match is None else f"{heading}\n{match.group(1)}"


def readme_section(heading: str) -> str:
    """The ``heading`` section of README.md (tests run its examples; it must be there)."""
    found = section(README.read_text(encoding="utf-8"), heading)
    if found is None:
        raise LookupError(f"README.md has no section {heading!r}")
    return found


def only_block(text: str, language: str) -> str:
    """The single fenced block of ``language`` in ``text`` (two would make a test ambiguous)."""
    blocks = [block for lang, block in FENCE.findall(text) if lang == language]
    if len(blocks) != 1:
        raise LookupError(f"expected one ```{language} block, found {len(blocks)}")
    return str(blocks[0])


def settings_table() -> str:
    """The settings table of the tap's ``--about --format markdown``."""
    about = subprocess.run(
        [str(BIN / "tap-mixpanel-engage"), "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    section = about.split("## Settings", 1)[1]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def doc_body(name: str) -> str:
    """A docs/ page without its own top heading (the README has it)."""
    text = (REPO / "docs" / name).read_text()
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("## "):
        lines = lines[1:]
    return "\n".join(lines).strip()


def bench_table() -> str:
    """The latest benchmark results and the chart."""
    results = REPO / "benchmarks" / "results"
    table = (results / "latest.md").read_text().strip()
    return (
        "Every figure comes from one run of `make bench` (real processes; the fake API runs in\n"
        "its own process; the peers in their own venvs), measured side by side.\n\n"
        f"{table}\n\n"
        "![Export time against number of profiles](benchmarks/results/export-time.png)"
    )


def sections() -> dict[str, str]:
    """Every generated section by marker name."""
    return {
        "settings": settings_table(),
        "python-api": doc_body("python-api.md"),
        "sink-guide": doc_body("writing-a-sink-plugin.md"),
        "fake-api": doc_body("fake_api.md"),
        "bench": bench_table(),
    }


def render(readme: str, generated: dict[str, str]) -> str:
    """``readme`` with every marked section replaced."""
    for name, body in generated.items():
        start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
        head, found, rest = readme.partition(start)
        if not found or end not in rest:
            raise SystemExit(f"README.md has no {name} markers")
        readme = head + start + body + "\n" + end + rest.split(end, 1)[1]
    return readme


def main() -> int:
    """Rewrite README.md, or with ``--check`` exit 1 when it is out of date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current, sections())
    if args.check:
        if current != wanted:
            print("README.md is out of date: run python -m scripts.update_readme", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
