"""Fixtures for the Grafana tests: a real Prometheus as PromQL parser, and the live stack."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.grafana.live_stack import LiveStack, live_stack
from tests.support import free_port, require_binary, wait_http


@pytest.fixture(scope="module")
def promql_parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real Prometheus with no targets, used only for /api/v1/parse_query."""
    binary = require_binary("prometheus")
    workdir: Path = tmp_path_factory.mktemp("prometheus-parser")
    config = workdir / "prometheus.yml"
    config.write_text("global: {}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/-/ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The real stack under traffic (tests/grafana/live_stack.py), shared by the
    metric-source and integration tests so it starts once."""
    require_binary("prometheus")
    require_binary("alertmanager")
    with live_stack(tmp_path_factory.mktemp("live-stack")) as stack:
        yield stack
