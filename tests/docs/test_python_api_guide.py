"""The README's "Python API" example must run as written and print what the README says.

The section is written in docs/python-api.md and generated into README.md under
``## Python API`` (``scripts/update_readme.py``); the test reads the README once the section has
been generated there (it holds a python block), else the docs file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts import update_readme
from scripts.update_readme import readme_section

HEADING = "## Python API"


def section_text() -> str:
    """The section, as the README shows it."""
    return readme_section(HEADING)


def only_block(language: str) -> str:
    """The single fenced block of ``language`` in the section."""
    return update_readme.only_block(section_text(), language)


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
