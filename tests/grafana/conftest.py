"""Fixtures for the Grafana tests: a real Prometheus as PromQL parser, and the live stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.grafana.live_stack import LiveStack, live_stack
from tests.support import require_binary
from tests.support.promql_parser import promql_parser as running_parser


@pytest.fixture(scope="module")
def promql_parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real Prometheus with no targets, used only for /api/v1/parse_query."""
    with running_parser(tmp_path_factory.mktemp("prometheus-parser")) as base:
        yield base


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The real stack under traffic (tests/grafana/live_stack.py), shared by the
    metric-source and integration tests so it starts once."""
    require_binary("prometheus")
    require_binary("alertmanager")
    with live_stack(tmp_path_factory.mktemp("live-stack")) as stack:
        yield stack
