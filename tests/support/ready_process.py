"""A Grafana-style server binary a test owns: started, ready when GET /ready says "ready".

Loki and Tempo (tests/support/loki.py, tempo.py) share this lifecycle: the process
writes to a log file the test can read (`log_tail`, `warnings` at level warn/error),
runs in an empty working directory of its own (`cwd`, so a path its config leaves
relative shows up there instead of in the repository), and can be stopped with
SIGTERM or SIGKILL and started again on the same ports and data directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest


class ReadyProcess:
    """Subclasses give `name`, `url`, `command` and `environment`."""

    name = "process"
    url: str

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.data_dir = workdir / f"{name}-data"
        self.cwd = workdir / f"{name}-cwd"
        self.log_path = workdir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def environment(self) -> dict[str, str]:
        return {}

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, ready_timeout: float = 90.0) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, **self.environment},
            )
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self._signal_and_wait(signal.SIGKILL, 10)
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"{self.name} exited during start-up; last lines:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/ready", timeout=2.0)
                last = f"HTTP {response.status_code}: {response.text.strip()}"
                if response.status_code == 200 and response.text.strip() == "ready":
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        pytest.fail(f"{self.name} not ready after {timeout}s ({last}); log:\n{self.log_tail()}")

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> tuple[int, bool]:
        """Send `sig`, wait up to `timeout` s, then SIGKILL; (exit code, whether it timed out)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        process, self._process = self._process, None
        timed_out = False
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                process.kill()
                process.wait(timeout=10)
        return int(process.returncode), timed_out

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self) -> list[str]:
        """Lines the process logged at warn or error level, over all its starts."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "level=warn" in line or "level=error" in line]
