"""The Cohorts list: one query (it counts against the hourly budget like any other).

Sent through :class:`~tap_mixpanel_engage.engage.client.EngageClient`, so it has the same auth,
retries, 429 handling and pacing as every Engage page.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tap_mixpanel_engage.engage.client import EngageClient, RetryPolicy
from tap_mixpanel_engage.engage.entities import shape_cohorts
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, HourlyBudget
from tap_mixpanel_engage.engage.progress import ExportStats
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError, AuthError
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class CohortList:
    """The project's cohorts as records, and what fetching them cost."""

    records: list[dict[str, Any]]
    stats: ExportStats = field(default_factory=ExportStats)


def fetch_cohorts(
    settings: EngageSettings,
    *,
    budget: HourlyBudget | None = None,
    policy: RetryPolicy | None = None,
) -> CohortList:
    """Every cohort of the project, in the order the API lists them.

    Raises:
        AuthError: credentials or project access rejected.
        APIError: the list was refused, or kept failing; the message says it was the list.
    """
    stats = ExportStats()
    client = EngageClient(
        settings,
        cancelled=threading.Event(),
        stats=stats,
        limit=AdaptiveLimit(1),
        budget=budget,
        policy=policy,
        shape=shape_cohorts,
    )
    try:
        page = client.fetch({}, 0, url=settings.cohorts_list_url)
    except AuthError:
        raise
    except APIError as exc:
        raise APIError(f"the cohorts list: {exc}", status=exc.status) from exc
    finally:
        client.close()
    logger.info("cohorts list: %d cohorts", len(page.records))
    return CohortList(list(page.records), stats)
