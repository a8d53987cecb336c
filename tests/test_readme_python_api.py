"""The README's "Python API" example must run as written and print what the README says.

The section is written in docs/python-api.md and generated into README.md under
``## Python API`` (``scripts/update_readme.py``); the test reads the README once the section has
been generated there (it holds a python block), else the docs file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Python API"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_section(readme: str) -> str | None:
    """The ``## Python API`` section of ``readme`` up to the next ``## ``, if any."""
    match = re.search(
        rf"^{re.escape(HEADING)}[ \t]*\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL
    )
    return None if match is None else f"{HEADING}\n{match.group(1)}"


def section_text() -> str:
    """The section from README.md if it has been generated there, else the docs file."""
    section = readme_section((ROOT / "README.md").read_text(encoding="utf-8"))
    if section is not None and any(lang == "python" for lang, _ in FENCE.findall(section)):
        return section
    return (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")


def only_block(language: str) -> str:
    """The single fenced block of ``language`` in the section (two would be ambiguous)."""
    blocks: list[str] = [b for lang, b in FENCE.findall(section_text()) if lang == language]
    assert len(blocks) == 1, f"expected one ```{language} block, found {len(blocks)}"
    return blocks[0]


def test_the_python_api_example_runs_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(only_block("python"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == only_block("text")
    assert proc.stderr == ""
    assert list(tmp_path.iterdir()) == [script]  # the example cleans up after itself


def test_the_section_names_every_public_function_and_sync_parameter() -> None:
    import inspect

    from tap_mixpanel_engage import iter_profiles, sync

    text = section_text()
    for function in (sync, iter_profiles):
        for name in inspect.signature(function).parameters:
            assert name in text, f"{function.__name__}({name}=...) is not documented"
    assert "## Python API" in text
    assert "When to choose which" in text
