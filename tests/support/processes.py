"""Ports, binaries and readiness waits for tests that start real processes."""

from __future__ import annotations

import shutil
import socket
import time

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, how: str = "bash ../shared/env/install-prometheus-tools") -> str:
    """The path of `name`, or a skip (a failure under OBS_STRICT=1) that says how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not on PATH; install it with: {how}")
    return path


def wait_http(url: str, timeout: float = 30.0, expect: int | None = 200) -> httpx.Response:
    """Poll `url` until it answers (with `expect`, unless None); fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: str = "no attempt"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if expect is None or response.status_code == expect:
                return response
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"{url} did not become ready within {timeout}s (last: {last})")
