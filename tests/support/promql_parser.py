"""A real Prometheus with no targets, started only to parse PromQL (GET /api/v1/parse_query).

promtool has no "parse this expression" command; tests that need a query's AST (its
metric names, labels, ranges) ask the real parser through this process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, require_binary, wait_http


@contextmanager
def promql_parser(workdir: Path) -> Iterator[str]:
    """Base URL of a real Prometheus with no targets, stopped on exit."""
    binary = require_binary("prometheus")
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
