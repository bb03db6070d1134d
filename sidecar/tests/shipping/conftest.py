"""Fixtures for the log-shipping tests: a Loki double, fast configs, an in-process sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sidecar.app import Sidecar
from sidecar.shipping import encoding as encoding_module

from sidecar.config import SidecarConfig
from tests.support import free_port
from tests.support.eventually import eventually
from tests.support.loki_double import LokiDouble
from tests.support.sidecar_in_process import running


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def loki() -> Iterator[LokiDouble]:
    with LokiDouble() as double:
        yield double


class Harness:
    """Builds fast configs and runs the sidecar in the test's own event loop."""

    def __init__(self, tmp_path: Path, loki: LokiDouble) -> None:
        self.tmp_path = tmp_path
        self.loki = loki
        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)

    def config(self, **overrides: Any) -> SidecarConfig:
        """Short intervals so behaviour shows in a fraction of a second."""
        base: dict[str, Any] = {
            "server": {"port": free_port()},
            "loki": {
                "url": self.loki.url,
                "batch_max_wait_seconds": 0.05,
                "backoff": {"min_seconds": 0.02, "max_seconds": 0.1},
                "timeout_seconds": 2,
            },
            "shipping": {
                # In-process: the tests look into the pipelines (process-mode tests
                # start the real sidecar: test_isolation.py).
                "isolation": "thread",
                "positions_file": str(self.tmp_path / "positions.json"),
                "scan_interval_seconds": 0.05,
                "poll_interval_seconds": 0.02,
                "rotate_wait_seconds": 0.2,
                "checkpoint_interval_seconds": 0.05,
                "shutdown_deadline_seconds": 2,
            },
            "sources": [
                {"name": "app", "service_name": "svc", "paths": [str(self.logs / "*.log*")]}
            ],
        }
        return SidecarConfig(**_merge(base, overrides))

    running = staticmethod(running)
    eventually = staticmethod(eventually)

    def saved_offset(self) -> int:
        """The offsets the positions file holds, summed; -1 before it is written."""
        try:
            data = orjson.loads((self.tmp_path / "positions.json").read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return -1
        return sum(entry["offset"] for entry in data["files"].values() if "offset" in entry)

    @staticmethod
    def metric(sidecar: Sidecar, name: str, **labels: str) -> float:
        wanted = {"service_name": "svc", "source": "app", **labels}
        value = sidecar.registry.get_sample_value(name, wanted)
        return 0.0 if value is None else value

    @staticmethod
    def json_line(n: int, level: str = "info", **extra: Any) -> str:
        record = {
            "timestamp": f"2026-11-25T10:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z",
            "level": level,
            "message": f"line {n}",
            **extra,
        }
        return orjson.dumps(record).decode() + "\n"


@pytest.fixture
def harness(tmp_path: Path, loki: LokiDouble) -> Harness:
    return Harness(tmp_path, loki)


@pytest.fixture
def poison_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The protobuf encoder refuses any entry whose line holds "poison". Stands in for an
    encoder bug: nothing the parsers produce makes the real encoders fail (lines are
    decoded with U+FFFD, timestamps clamped to what Loki stores)."""
    real = encoding_module.ENCODERS["protobuf"]

    def refuses_poison(streams: Any) -> encoding_module.Body:
        if any("poison" in entry[1] for _, _, entries in streams for entry in entries):
            raise ValueError("Value out of range")
        return real(streams)

    monkeypatch.setitem(encoding_module.ENCODERS, "protobuf", refuses_poison)
