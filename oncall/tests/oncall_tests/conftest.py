"""A real app on a temporary log file and a copy of the repository's runbooks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oncall.app import build_app
from oncall.settings import Settings
from starlette.testclient import TestClient

from oncall_tests.payloads import RUNBOOKS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(RUNBOOKS, runbooks)
    return Settings(runbooks_dir=runbooks, log_file=tmp_path / "log" / "inbox.log")


@pytest.fixture
def client_for() -> Iterator[Callable[[Settings], TestClient]]:
    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(build_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(settings: Settings, client_for: Callable[[Settings], TestClient]) -> TestClient:
    return client_for(settings)
