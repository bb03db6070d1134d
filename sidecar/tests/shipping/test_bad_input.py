"""Bad input is shipped or counted, never a crash, never silent."""

from __future__ import annotations

import os
import tracemalloc

from sidecar.shipping.linereader import LineReader

MAX_LINE = 1024


async def test_malformed_lines_are_shipped_and_counted(harness):
    path = harness.logs / "app.log"
    path.write_bytes(
        b"not json at all\n"
        + b'{"level":"info","message":"caf\xe9"}\n'  # Latin-1, not UTF-8
        + b'{"level":"info",\x00"message":"nul"}\n'
        + b"x" * 5000
        + b"\n"
        + b'{"level":"info","message":"held'  # no newline yet
    )
    config = harness.config(shipping={"max_line_bytes": MAX_LINE})
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 4, what="4 lines")

        def malformed(reason: str) -> float:
            return harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason=reason)

        assert malformed("not_json") == 1
        assert malformed("invalid_utf8") == 1
        assert malformed("nul_bytes") == 1
        assert malformed("truncated") == 1
        lines = harness.loki.lines()
        assert "not json at all" in lines
        assert '{"level":"info","message":"caf\ufffd"}' in lines
        assert '{"level":"info","message":"nul"}' in lines
        truncated = next(line for line in lines if line.startswith("xxx"))
        assert len(truncated.encode()) <= MAX_LINE
        assert "[sidecar: line truncated, 5000 bytes > 1024]" in truncated
        # The partial last line is held until its newline arrives.
        assert not any("held" in line for line in lines)
        with path.open("ab") as handle:
            handle.write(b'"}\n')
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="held line")
    assert '{"level":"info","message":"held"}' in harness.loki.lines()


def test_one_gigabyte_without_newline_stays_bounded(tmp_path):
    path = tmp_path / "huge.log"
    with path.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB, no newline
        handle.seek(1 << 30)
        handle.write(b"\nafter\n")
    fd = os.open(path, os.O_RDONLY)
    tailer = LineReader(fd, 0, max_line_bytes=256 * 1024, chunk_bytes=4 << 20)
    tracemalloc.start()
    lines: list[tuple[bytes, int, int]] = []
    try:
        while (chunk := tailer.read_chunk()) is not None:
            skipped = chunk.skipped or {}
            lines.extend(
                (line, start, skipped.get(i, 0))
                for i, (line, start) in enumerate(zip(chunk.lines, chunk.starts(), strict=True))
            )
            assert tailer.held_bytes <= 256 * 1024
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        os.close(fd)
    assert peak < 32 << 20  # a few chunks, not a gigabyte
    assert [len(line) for line, _, _ in lines] == [256 * 1024, 5]
    assert lines[0][2] == (1 << 30) - 256 * 1024
    assert lines[1][:2] == (b"after", (1 << 30) + 1)
