"""tap-mixpanel-engage: copy Mixpanel profiles, groups and cohorts fast, in order, without loss.

The Python API (:func:`iter_profiles`, :func:`sync`) is imported lazily, so importing the package
(e.g. for the fake API) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["SyncResult", "iter_profiles", "sync"]

if TYPE_CHECKING:
    from tap_mixpanel_engage.library import SyncResult, iter_profiles, sync


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tap_mixpanel_engage import library

        return getattr(library, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
