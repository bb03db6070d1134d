"""One real Loki per test module (tests/support/loki.py), from the repository's loki.yaml."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loki import RunningLoki, loki


@pytest.fixture(scope="module")
def real_loki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLoki]:
    with loki(tmp_path_factory.mktemp("loki")) as instance:
        yield instance
