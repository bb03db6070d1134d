"""Is a source stuck? A backlog, no acknowledged progress for a while, and Loki answering.

Guarantee: a source that holds lines it could ship (complete lines read or bytes not yet
read), has had none of them acknowledged for stall_after_seconds, and is not waiting on
an unreachable Loki, is reported stalled (`sidecar_log_source_stalled` 1, a `warn` in
/health/ready) until something is acknowledged again. A held partial last line (no
newline yet) is not a backlog: it cannot be shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What /health/ready says about one source (read from the main loop's thread)."""

    source: str
    stalled: bool
    output: str | None


class StallWatch:
    def __init__(self, source: str, stall_after_seconds: float) -> None:
        self._source = source
        self._after = stall_after_seconds
        self._acked = -1
        self._since = 0.0

    def update(
        self, now: float, shippable: int, acked: int, loki_unreachable: bool
    ) -> SourceStatus:
        if acked != self._acked or shippable == 0:
            self._acked, self._since = acked, now
        quiet = now - self._since
        if shippable and quiet >= self._after and not loki_unreachable:
            output = (
                f"{shippable} bytes waiting and nothing acknowledged for {quiet:.0f} s "
                "although Loki answers"
            )
            return SourceStatus(self._source, True, output)
        return SourceStatus(self._source, False, None)
