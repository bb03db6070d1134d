"""Lines over max_line_bytes: Loki gets whole characters, a marker, and never more bytes
than the limit, whatever the line holds (README, "Bad input": the line is cut, marked
with ` [sidecar: line truncated, N bytes > LIMIT]` and counted as `truncated`).

The limit is on what Loki receives: the UTF-8 text of the entry. A cut must not split a
character (Loki would get a U+FFFD the file never held), and invalid bytes, each
replaced by a 3-byte U+FFFD, must not carry the entry past the limit (Loki would refuse
it as too long).
"""

from __future__ import annotations

import re

import pytest
from sidecar.shipping.linereader import truncated_text

from .conftest import Harness

MAX_LINE = 1024
MARKER = re.compile(r" \[sidecar: line truncated, (\d+) bytes > (\d+)\]$")


def _marked(line: str) -> tuple[int, int]:
    """The line's size and the limit, as the marker states them."""
    match = MARKER.search(line)
    assert match is not None, line[-80:]
    return int(match[1]), int(match[2])


def _kept(line: str) -> str:
    """The line's own text, before the marker."""
    match = MARKER.search(line)
    assert match is not None, line[-80:]
    return line[: match.start()]


async def _shipped(harness: Harness, lines: bytes) -> tuple[list[str], float, float]:
    """Ship `lines` with max_line_bytes MAX_LINE (Loki's limit set alike): what Loki
    stored, and how many lines were counted truncated and invalid UTF-8."""
    (harness.logs / "app.log").write_bytes(lines)
    harness.loki.max_line_size = MAX_LINE
    config = harness.config(shipping={"max_line_bytes": MAX_LINE})
    async with harness.running(config) as sidecar:
        count = lines.count(b"\n")
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == count,
            what="every line acknowledged",
        )

        def malformed(reason: str) -> float:
            return harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason=reason)

        return harness.loki.lines(), malformed("truncated"), malformed("invalid_utf8")


async def test_an_overlong_line_of_multibyte_characters_is_cut_between_characters(
    harness: Harness,
) -> None:
    # 3-byte characters: neither the reader's cut at MAX_LINE nor the marker's room
    # falls on a character boundary (1024 and 960 are not multiples of 3).
    text = "€" * 1000
    stored, truncated, invalid = await _shipped(harness, f"short\n{text}\n".encode())
    # A valid line is not counted as invalid UTF-8 because the cut split a character.
    assert (truncated, invalid) == (1, 0)
    (line,) = [x for x in stored if x != "short"]
    assert len(line.encode()) <= MAX_LINE
    kept = _kept(line)
    assert set(kept) == {"€"}  # whole characters only: no U+FFFD at the cut
    assert len(kept.encode()) > MAX_LINE - 64 - 3  # no more than the split one dropped
    assert _marked(line) == (len(text.encode()), MAX_LINE)


async def test_an_overlong_line_of_invalid_bytes_reaches_loki_within_the_limit(
    harness: Harness,
) -> None:
    (line,), truncated, invalid = await _shipped(harness, b"\xff" * 3000 + b"\n")
    assert (truncated, invalid) == (1, 1)
    assert len(line.encode()) <= MAX_LINE
    assert set(_kept(line)) == {"\ufffd"}


async def test_a_line_its_replaced_invalid_bytes_carry_past_the_limit_is_cut_and_marked(
    harness: Harness,
) -> None:
    # Under the limit in the file, over it once each invalid byte is a 3-byte U+FFFD.
    data = b"ok " + b"\xe9" * 600
    shipped_size = len(data.decode(errors="replace").encode())
    assert len(data) < MAX_LINE < shipped_size
    (line,), truncated, invalid = await _shipped(harness, data + b"\n")
    assert (truncated, invalid) == (1, 1)
    assert len(line.encode()) <= MAX_LINE
    assert _kept(line).startswith("ok \ufffd\ufffd")
    assert _marked(line) == (shipped_size, MAX_LINE)


# The cut, where it falls: `room` is what truncated_text keeps of a line (the rest of
# MAX_LINE is the marker's).
ROOM = MAX_LINE - 64


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        # the cut right after a character's lead byte: the lead byte goes
        pytest.param(b"a" * (ROOM - 1) + "é".encode(), "a" * (ROOM - 1), id="after-lead-byte"),
        # the cut inside a 4-byte character, after two continuation bytes: all of it goes
        pytest.param(b"a" * (ROOM - 3) + "😀".encode(), "a" * (ROOM - 3), id="inside-4-bytes"),
        # a whole character ends at the cut: it stays
        pytest.param(b"a" * (ROOM - 2) + "é".encode(), "a" * (ROOM - 2) + "é", id="whole-char"),
        # stray continuation bytes (invalid in the file): kept as U+FFFD, 3 bytes each,
        # and what follows them goes so that it all fits
        pytest.param(b"a" * (ROOM - 6) + b"\x80\x80", "a" * (ROOM - 6) + "\ufffd" * 2, id="stray"),
    ],
)
def test_truncated_text_cuts_between_whole_characters(data: bytes, kept: str) -> None:
    line = truncated_text(data + b"z" * 100, 7, MAX_LINE)
    assert _kept(line) == kept
    assert _marked(line) == (len(data) + 100 + 7, MAX_LINE)
    assert len(line.encode()) <= MAX_LINE
