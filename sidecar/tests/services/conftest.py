"""An in-process sidecar with a services file, shipping into the Loki double."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import SidecarConfig
from tests.support import free_port
from tests.support.eventually import eventually
from tests.support.loki_double import LokiDouble
from tests.support.sidecar_in_process import running


@pytest.fixture
def loki() -> Iterator[LokiDouble]:
    with LokiDouble() as double:
        yield double


class ServicesHarness:
    def __init__(self, tmp_path: Path, loki: LokiDouble, isolation: str) -> None:
        self.isolation = isolation
        self.tmp_path = tmp_path
        self.loki = loki
        self.services_path = tmp_path / "services.yaml"
        self.positions = tmp_path / "state" / "positions.json"

    def config(self, **services_file: Any) -> SidecarConfig:
        return SidecarConfig(
            server={"port": free_port()},
            loki={"url": self.loki.url, "batch_max_wait_seconds": 0.05},
            shipping={
                "positions_file": str(self.positions),
                "isolation": self.isolation,
                "scan_interval_seconds": 0.05,
                "poll_interval_seconds": 0.02,
                "rotate_wait_seconds": 0.2,
                "checkpoint_interval_seconds": 0.05,
                "shutdown_deadline_seconds": 2,
            },
            services_file={
                "path": str(self.services_path),
                "poll_interval_seconds": 0.05,
                **services_file,
            },
        )

    def write(self, services: list[dict[str, Any]], *, replace: bool = True) -> None:
        """Write the services file as an editor would: a new file renamed over the old
        one (replace) or rewritten in place."""
        text = json.dumps({"services": services}, indent=1)  # JSON is YAML, without aliases
        self.write_text(text, replace=replace)

    def write_text(self, text: str, *, replace: bool = True) -> None:
        if replace:
            temporary = self.services_path.with_suffix(".tmp")
            temporary.write_text(text)
            os.replace(temporary, self.services_path)
        else:
            with self.services_path.open("r+" if self.services_path.exists() else "w") as f:
                f.truncate(0)
                f.write(text)

    running = staticmethod(running)
    eventually = staticmethod(eventually)


# Both ways of shipping: a reload restarts the shipping process (supervisor.reconfigure)
# or replaces the shipping thread's service.
@pytest.fixture(params=["process", "thread"])
def services(tmp_path: Path, loki: LokiDouble, request: pytest.FixtureRequest) -> ServicesHarness:
    return ServicesHarness(tmp_path, loki, request.param)
