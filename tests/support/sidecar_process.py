"""The real sidecar as a process (`python -m sidecar run`), for tests against real Loki.

`sidecar_process(workdir, loki_push_url, sources)` writes a config with short intervals,
starts the sidecar, waits for /health/ready and stops it with SIGTERM on exit. `metric`
reads one sample of its /metrics page. Tests that kill and restart it themselves use
`write_config` and `start`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import free_port, wait_http


@dataclass
class SidecarProcess:
    url: str
    config_path: Path
    positions: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 if none)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def stop(self, *, kill: bool = False) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=60)
        return int(self.process.returncode)


class WrittenConfig(NamedTuple):
    path: Path
    port: int
    positions: Path  # the positions file it names


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) else value
    return out


def write_config(
    workdir: Path,
    loki_push_url: str,
    sources: list[dict[str, Any]],
    overrides: Mapping[str, Any] | None = None,
) -> WrittenConfig:
    """`workdir/sidecar.yaml` shipping `sources` with fast intervals."""
    port = free_port()
    config = _merge(
        {
            "server": {"host": "127.0.0.1", "port": port},
            "loki": {
                "url": loki_push_url,
                "batch_max_wait_seconds": 0.2,
                "backoff": {"min_seconds": 0.05, "max_seconds": 1},
            },
            "shipping": {
                "positions_file": str(workdir / "sidecar-state" / "positions.json"),
                "scan_interval_seconds": 0.2,
                "poll_interval_seconds": 0.05,
                "rotate_wait_seconds": 0.5,
                "checkpoint_interval_seconds": 0.2,
                "shutdown_deadline_seconds": 10,
            },
            "sources": sources,
        },
        overrides or {},
    )
    config_path = workdir / "sidecar.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return WrittenConfig(config_path, port, Path(config["shipping"]["positions_file"]))


def start(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m sidecar run` on `config_path`, its output appended to `log_path`."""
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--config", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def sidecar_process(
    workdir: Path,
    loki_push_url: str,
    sources: list[dict[str, Any]],
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[SidecarProcess]:
    """The sidecar shipping `sources` to `loki_push_url`, with fast intervals."""
    config_path, port, positions = write_config(workdir, loki_push_url, sources, overrides)
    log_path = workdir / "sidecar.out"
    process = start(config_path, log_path)
    running = SidecarProcess(f"http://127.0.0.1:{port}", config_path, positions, log_path, process)
    try:
        wait_http(f"{running.url}/health/ready", timeout=60)
        yield running
    finally:
        running.stop()
