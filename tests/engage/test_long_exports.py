"""Long exports under Mixpanel's real limits, simulated: hours of rate limits without waiting.

The scenario (:mod:`benchmarks.long_export`, which ``make bench`` reports too): 60 queries per
rolling hour, sessions that die after 10 minutes unused, a project that gains profiles while it
is exported, one simulated second per query; once with every page counted against the hour,
once with only page 0 (which of the two Mixpanel does is unknown).
"""

from __future__ import annotations

import pytest

from benchmarks.long_export import PAGES, export_under_limits


@pytest.mark.parametrize("every_page_counts", [True, False], ids=["every-page", "page-0-only"])
def test_a_long_export_finishes_with_every_profile_few_extra_queries_near_the_floor(
    every_page_counts: bool,
) -> None:
    outcome = export_under_limits(every_page_counts=every_page_counts)
    assert outcome.missing == 0
    assert outcome.pages >= PAGES
    assert outcome.answered <= 1.05 * outcome.pages, outcome
    assert outcome.elapsed <= 1.1 * outcome.floor, outcome
