"""A Singer message writer that writes stdout in large chunks and flushes where it matters.

The SDK's msgspec writer writes and flushes every message: a system call per profile (profiles
are several KB each, larger than stdout's buffer). Here RECORD lines gather in a buffer of about
a megabyte; every other message (SCHEMA, STATE, ...) first writes what is gathered, then itself,
then flushes, so a STATE never reaches the target before the records it covers.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage
from typing_extensions import override

CHUNK_BYTES = 1 << 20


class _RecordLine(msgspec.Struct, omit_defaults=True, tag_field="type", tag="RECORD"):
    """A Singer RECORD message as the SDK writes it (``version`` only when set)."""

    stream: str
    record: dict[str, Any]
    version: int | None = None
    time_extracted: str | None = None


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec encoding, RECORD lines written in chunks, everything else flushed at once."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._encode_lines = msgspec.json.Encoder(enc_hook=enc_hook).encode_lines

    def write_records(
        self, stream: str, records: list[dict[str, Any]], version: int | None, extracted: str
    ) -> None:
        """Queue the RECORD lines of a page, encoded in one call: the same lines, in the same
        order, that one ``RecordMessage`` per record gives."""
        self._pending += self._encode_lines(
            [_RecordLine(stream, record, version, extracted) for record in records]
        )
        if len(self._pending) >= CHUNK_BYTES:
            self.flush(force=False)

    @override
    def write_message(self, message: Message) -> None:
        """Queue a RECORD line; write and flush anything else (and what is queued before it)."""
        self._pending += self.format_message(message)
        if not isinstance(message, RecordMessage) or len(self._pending) >= CHUNK_BYTES:
            self.flush(force=not isinstance(message, RecordMessage))

    def flush(self, *, force: bool = True) -> None:
        """Write the queued lines; ``force`` also flushes stdout."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        if force:
            sys.stdout.flush()
