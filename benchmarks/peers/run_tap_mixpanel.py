"""Run singer-io tap-mixpanel 1.8.0 against a fake Engage API instead of mixpanel.com.

Runs with the *peer venv's* interpreter (see ``venvs.py``), so it imports only the tap and its
own dependencies, never our package. Two modes:

``run_tap_mixpanel.py make-catalog --out CATALOG [--properties PROPS]``
    Builds a catalog offline with the tap's own ``get_schemas`` and a stub client, keeping only
    the ``engage`` stream, selected. The tap's real discovery calls
    ``GET /api/2.0/engage/properties`` and ``GET /api/2.0/events/properties/top``, which the fake
    does not serve; ``PROPS`` stands in for the first one's ``results`` object
    (``{"name": {"type": "string"|"number"|"boolean"|"datetime"|"object"|"list"}}``). Without it
    the engage schema has only ``distinct_id`` and the tap drops every other property.

``run_tap_mixpanel.py TAP-ARGS...`` (e.g. ``--config c.json --catalog cat.json``)
    Patches ``requests.Session.request`` so every ``https://<any>.mixpanel.com`` URL goes to
    ``$FAKE_ENGAGE_URL`` (same path and query), refuses any other host, then calls the tap's
    ``main()``. The tap hard-codes its hosts in several places (client ``check_access``,
    stream class ``url`` attributes, the EU branch), so one choke point is safer than patching
    each constant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

MIXPANEL_HOST = re.compile(r"^https?://(?:[A-Za-z0-9-]+\.)*mixpanel\.com(?::\d+)?(?=/|$)")


def rewrite_url(url: str, base: str) -> str:
    """Map a mixpanel.com URL onto ``base``; raise for any URL that would leave ``base``.

    The guard matters: this wrapper must never reach the real API, even through a host the tap
    gains in a later release.
    """
    new = MIXPANEL_HOST.sub(base.rstrip("/"), url, count=1)
    if not new.startswith(base.rstrip("/")):
        raise RuntimeError(f"peer tap tried to reach {url!r}, which is not redirected to {base!r}")
    return new


def install_redirect(base: str) -> None:
    """Route every ``requests.Session.request`` through ``rewrite_url``."""
    original: Callable[..., requests.Response] = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return original(self, method, rewrite_url(str(url), base), *args, **kwargs)

    # Monkeypatching is this wrapper's purpose; the replacement takes the same arguments.
    requests.Session.request = request  # type: ignore[method-assign, assignment]


class _OfflineClient:
    """Stands in for ``MixpanelClient`` during discovery: answers the two properties endpoints."""

    disable_engage_endpoint = False

    def __init__(self, engage_properties: dict[str, Any]) -> None:
        self._engage_properties = engage_properties
        # schema.py reads `client.__api_domain` outside a class, so the name is not mangled.
        self.__dict__["__api_domain"] = "mixpanel.com"

    def request(
        self, method: str, url: str | None = None, path: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if path == "engage/properties":
            return {"status": "ok", "results": self._engage_properties}
        return {}


def make_catalog(out: Path, engage_properties: dict[str, Any]) -> None:
    """Write a catalog holding only the ``engage`` stream, selected, built by the tap's own code."""
    from singer import metadata
    from singer.catalog import Catalog, CatalogEntry, Schema
    from tap_mixpanel.schema import get_schemas
    from tap_mixpanel.streams import STREAMS

    schemas, field_metadata = get_schemas(_OfflineClient(engage_properties), "false")
    mdata = metadata.write(metadata.to_map(field_metadata["engage"]), (), "selected", True)
    entry = CatalogEntry(
        stream="engage",
        tap_stream_id="engage",
        key_properties=STREAMS["engage"].key_properties,
        schema=Schema.from_dict(schemas["engage"]),
        metadata=metadata.to_list(mdata),
    )
    out.write_text(json.dumps(Catalog([entry]).to_dict(), indent=2))


def main(argv: list[str]) -> int:
    """Dispatch to ``make-catalog`` or to the redirected tap."""
    # This folder also holds `tap_mixpanel.py` (the driver), which would shadow the real tap.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != here]
    if argv and argv[0] == "make-catalog":
        parser = argparse.ArgumentParser(prog="run_tap_mixpanel.py make-catalog")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--properties", type=Path, help="JSON {name: {type: ...}}")
        args = parser.parse_args(argv[1:])
        props = json.loads(args.properties.read_text()) if args.properties else {}
        make_catalog(args.out, props)
        return 0

    base = os.environ.get("FAKE_ENGAGE_URL")
    if not base:
        print("FAKE_ENGAGE_URL is not set; refusing to run against the real API", file=sys.stderr)
        return 2
    install_redirect(base)
    import tap_mixpanel

    sys.argv = ["tap-mixpanel", *argv]
    tap_mixpanel.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
