"""A batch nothing of which can be encoded for Loki (encoding.py, `encode_isolating`).

Its entries are counted dropped (`encoding_error`) and acknowledged, so the checkpoint
moves past them, and no push is made: there is nothing to send.

The encoder is replaced by one that refuses marked lines: nothing the parsers produce
makes the real encoders fail (lines are decoded with U+FFFD for invalid bytes, orjson
refuses lone surrogates, timestamps are clamped to what Loki stores), so a refusal can
only be staged. test_failure_paths.py's poison-line test uses the same stand-in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sidecar.shipping import encoding as encoding_module

from .conftest import Harness


def _offset(harness: Harness) -> int:
    try:
        files = json.loads((harness.tmp_path / "positions.json").read_text())["files"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1
    return sum(int(entry["offset"]) for entry in files.values())


async def test_a_batch_with_no_entry_that_encodes_is_dropped_counted_and_not_pushed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = encoding_module.ENCODERS["protobuf"]

    def picky(streams: Any) -> encoding_module.Body:
        if any("poison" in entry[1] for _, _, entries in streams for entry in entries):
            raise ValueError("Value out of range")
        return real(streams)

    monkeypatch.setitem(encoding_module.ENCODERS, "protobuf", picky)
    path = harness.logs / "app.log"
    path.write_text("".join(harness.json_line(n, note="poison") for n in range(3)))
    async with harness.running(harness.config()) as sidecar:
        await harness.eventually(
            lambda: _offset(harness) == path.stat().st_size, what="checkpoint at the end"
        )
        dropped = harness.metric(
            sidecar, "sidecar_log_lines_dropped_total", reason="encoding_error"
        )
        assert dropped == 3
        assert harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 0
    assert harness.loki.requests == []
