"""What passes between the main process and the shipping process, defined once for both
sides (supervisor.py in the main process, process.py in the child): the configuration
the child gets on its standard input, the status lines it writes back, and the name
its metrics files carry. Light on purpose: the main process imports this, not the
shipping code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from sidecar.shipping.config import LokiConfig, ShippingConfig, SourceConfig
from sidecar.shipping.stall import SourceStatus

# The multiprocess files' identifier: fixed, so a restarted child reopens its
# predecessor's files (counters go on) instead of adding new ones at every restart.
METRICS_ID = "shipping"
# The child writes a status line this often; the parent calls it gone after the stale
# time without one (the thread mode's heartbeat uses the same two).
HEARTBEAT_SECONDS = 0.5
HEARTBEAT_STALE_SECONDS = 10.0


class ChildConfig(BaseModel):
    """What the parent hands the child: the shipping half of its configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_level: str
    loki: LokiConfig
    shipping: ShippingConfig
    sources: list[SourceConfig]

    def encode(self) -> bytes:
        return json.dumps(self.model_dump(), default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(  # pragma: no cover - besides these two, the config holds JSON types only
        f"cannot hand {type(value).__name__} to the shipping process"
    )


@dataclass(frozen=True)
class Status:
    """One status line, child to parent."""

    ready: bool
    statuses: tuple[SourceStatus, ...]

    def encode(self) -> bytes:
        rows = [[s.source, s.stalled, s.output] for s in self.statuses]
        return json.dumps({"ready": self.ready, "statuses": rows}).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Status:
        data = json.loads(line)
        rows = tuple(SourceStatus(str(r[0]), bool(r[1]), r[2]) for r in data["statuses"])
        return cls(bool(data["ready"]), rows)
