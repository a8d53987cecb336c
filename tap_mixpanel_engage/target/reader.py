"""Reading Singer input: one JSON message per line, and the JSONL files BATCH messages name."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

import msgspec

from tap_mixpanel_engage.errors import EngageError

_GZIP_MAGIC = b"\x1f\x8b"


class InputError(EngageError, ValueError):
    """Bad Singer input; the message starts with where (``line N``) and says what."""


class MessageDecoder:
    """Decodes lines to dicts; numbers stay ints and floats (12.5 encodes back as 12.5)."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder()

    def decode(self, line: bytes, where: str) -> Any:
        """One JSON value, or :class:`InputError` naming ``where``."""
        try:
            return self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise InputError(f"{where}: malformed JSON: {exc}") from None

    def message(self, line: bytes, number: int) -> dict[str, Any]:
        """The Singer message on input line ``number``, or :class:`InputError` naming it."""
        message = self.decode(line, f"line {number}")
        if type(message) is not dict:
            raise InputError(f"line {number}: a Singer message must be a JSON object")
        return message


def iter_messages(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, message)`` for every non-blank line (numbered from 1)."""
    decoder = MessageDecoder()
    for line_number, line in enumerate(stream, start=1):
        if line.strip():
            yield line_number, decoder.message(line, line_number)


def iter_batch_records(message: Mapping[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, record)`` for each line of the JSONL(.gz) files a BATCH message names.

    Only ``file://`` URIs (or plain paths) and the ``jsonl`` format are supported; gzip is
    recognised by its magic bytes, whatever ``encoding.compression`` says.
    """
    encoding = message.get("encoding")
    manifest = message.get("manifest")
    file_format = encoding.get("format") if isinstance(encoding, Mapping) else None
    if file_format != "jsonl":
        raise InputError(f"{where}: BATCH format {file_format!r} is not supported (only 'jsonl')")
    if not isinstance(manifest, list) or not all(isinstance(u, str) for u in manifest):
        raise InputError(f"{where}: BATCH 'manifest' must be a list of file URIs")
    decoder = MessageDecoder()
    for uri in manifest:
        path = _local_path(uri, where)
        try:
            with path.open("rb") as raw:
                gzipped = raw.read(2) == _GZIP_MAGIC
            opener = gzip.open if gzipped else open
            with opener(path, "rb") as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        at = f"{where} (BATCH file {uri} line {number})"
                        yield at, decoder.decode(line, at)
        except (OSError, EOFError) as exc:
            raise InputError(f"{where}: cannot read BATCH file {uri}: {exc}") from None


def _local_path(uri: str, where: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    raise InputError(f"{where}: BATCH file {uri!r}: only file:// URIs are supported")
