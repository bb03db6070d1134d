"""Repository-wide pytest hooks.

Strict mode (OBS_STRICT=1, set by .ci/run): a test that skips because a tool
such as promtool or a Docker engine is missing is reported as a failure, so CI
cannot pass by quietly not running the real-binary tests.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

STRICT = os.environ.get("OBS_STRICT") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"strict mode (OBS_STRICT=1): skip is a failure: {reason}"
