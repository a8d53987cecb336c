"""tap-mixpanel-engage: copy Mixpanel user profiles (Engage API) fast, in order, without loss."""

from __future__ import annotations

__version__ = "0.1.0"
