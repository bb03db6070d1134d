"""The real Loki, run from the repository's `loki/loki.yaml`, and the queries tests read it with.

`loki(workdir)` starts the `loki` binary on free loopback ports with a data directory
under `workdir`, waits until `/ready` says ready, and stops it on exit. The config file
is the one compose mounts, adapted only through `-config.expand-env=true`
(LOKI_DATA_DIR) and the listen flags, never through a copy. The running Loki can be
stopped (SIGTERM or SIGKILL) and started again on the same ports and data directory,
so a test can take Loki away under a client and bring it back.

`LokiClient` holds the read side and works against any Loki URL (the compose one too):
`query_range` pages through Loki's per-query entry cap so that it returns every entry
of a selector in a window exactly once, however many there are; `line_counts` tells
distinct lines from lines Loki returns more than once.

A missing binary is a skip that names the install command (a failure under
OBS_STRICT=1, see conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, require_binary

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "loki" / "loki.yaml"
INSTALL = "bash ../shared/env/install-loki-tempo"
# Loki's default limits_config.max_entries_limit_per_query: a larger `limit` is a 400.
MAX_ENTRIES_PER_QUERY = 5000
SECOND_NS = 1_000_000_000
CATEGORIZE_LABELS = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}


class LokiError(AssertionError):
    """Loki answered a query with an error status."""


@dataclass(frozen=True)
class LogEntry:
    """One entry as query_range returns it: stream labels, time in ns, line, metadata."""

    labels: Mapping[str, str]
    ts: int
    line: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LineCounts:
    """How often each line came back: `total` entries, `distinct` lines, and the
    lines seen more than once with their count."""

    total: int
    distinct: int
    duplicated: Mapping[str, int]

    @property
    def duplicates(self) -> int:
        """Entries beyond the first copy of their line."""
        return self.total - self.distinct


def line_counts(entries: Iterable[LogEntry]) -> LineCounts:
    counts = Counter(entry.line for entry in entries)
    return LineCounts(
        total=sum(counts.values()),
        distinct=len(counts),
        duplicated={line: n for line, n in counts.items() if n > 1},
    )


def now_ns() -> int:
    return time.time_ns()


class LokiClient:
    """Reads (and, for tests that need it, pushes) through Loki's HTTP API at `url`."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    @property
    def push_url(self) -> str:
        return f"{self.url}/loki/api/v1/push"

    @property
    def otlp_logs_url(self) -> str:
        return f"{self.url}/otlp/v1/logs"

    def push_json(self, streams: list[dict[str, Any]]) -> httpx.Response:
        """POST {"streams": streams} as JSON; the response is returned, not checked."""
        return httpx.post(self.push_url, json={"streams": streams}, timeout=self.timeout)

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}{path}", params=params, headers=CATEGORIZE_LABELS, timeout=self.timeout
        )
        if response.status_code != 200:
            raise LokiError(f"GET {path} {params} -> HTTP {response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def query_range(
        self,
        query: str,
        start_ns: int,
        end_ns: int,
        *,
        direction: str = "forward",
        page_size: int = MAX_ENTRIES_PER_QUERY,
    ) -> list[LogEntry]:
        """Every entry `query` (a log query) selects with start_ns <= ts <= end_ns, in
        `direction` order, each exactly as often as Loki returns it.

        Loki caps one answer at `limit` entries, so this pages by time. A full page may
        stop in the middle of the entries of its last timestamp; those are dropped from
        the page and the next page starts at that timestamp, so no entry is skipped or
        read twice by the paging itself. (Fails if more than `page_size` entries share
        one timestamp, which paging by time cannot split.)
        """
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be forward or backward, not {direction!r}")
        entries: list[LogEntry] = []
        low, high = start_ns, end_ns
        while low <= high:
            # Loki's end is exclusive, and Loki warns about a window under a second
            # ("could not determine query overlaps"): ask for at least a second,
            # stretched away from the side the page starts at, and keep only
            # [low, high]. Entries outside it sort after those inside.
            span = max(high + 1 - low, SECOND_NS)
            forward = direction == "forward"
            window = (low, low + span) if forward else (high + 1 - span, high + 1)
            page = self._page(query, *window, direction, page_size)
            inside = [e for e in page if low <= e.ts <= high]
            if len(page) < page_size or len(inside) < len(page):
                entries.extend(inside)
                break
            boundary = page[-1].ts
            complete = [e for e in page if e.ts != boundary]
            if not complete:
                raise LokiError(
                    f"more than {page_size} entries at timestamp {boundary}: "
                    "cannot page through them by time"
                )
            entries.extend(complete)
            if direction == "forward":
                low = boundary
            else:
                high = boundary
        return entries

    def _page(self, query: str, start: int, end: int, direction: str, limit: int) -> list[LogEntry]:
        body = self._get(
            "/loki/api/v1/query_range",
            {"query": query, "start": start, "end": end, "limit": limit, "direction": direction},
        )
        data = body["data"]
        if data["resultType"] != "streams":
            raise LokiError(f"{query!r} is not a log query (result type {data['resultType']})")
        page = [
            LogEntry(
                labels=stream["stream"],
                ts=int(value[0]),
                line=value[1],
                metadata=value[2].get("structuredMetadata", {}) if len(value) > 2 else {},
            )
            for stream in data["result"]
            for value in stream["values"]
        ]
        page.sort(key=lambda e: e.ts, reverse=direction == "backward")
        return page

    def metric_query_range(
        self, query: str, start_ns: int, end_ns: int, step_seconds: float
    ) -> list[dict[str, Any]]:
        """The matrix a LogQL metric query returns (a list of {"metric", "values"})."""
        body = self._get(
            "/loki/api/v1/query_range",
            {"query": query, "start": start_ns, "end": end_ns, "step": f"{step_seconds}s"},
        )
        data = body["data"]
        if data["resultType"] != "matrix":
            raise LokiError(f"{query!r} is not a metric query (result type {data['resultType']})")
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, name: str, start_ns: int, end_ns: int) -> list[str]:
        body = self._get(f"/loki/api/v1/label/{name}/values", {"start": start_ns, "end": end_ns})
        values: list[str] = body.get("data", [])
        return values

    def wait_for_entries(
        self, query: str, count: int, start_ns: int, *, timeout: float = 60.0
    ) -> list[LogEntry]:
        """Poll until `query` returns at least `count` entries since start_ns; fail the test
        with what it last saw otherwise."""
        deadline = time.monotonic() + timeout
        entries: list[LogEntry] = []
        while True:
            entries = self.query_range(query, start_ns, now_ns())
            if len(entries) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        if len(entries) < count:
            pytest.fail(f"{query}: {len(entries)} of {count} entries after {timeout}s")
        return entries


class RunningLoki(LokiClient):
    """A real Loki process this test owns: start, stop (gracefully or with SIGKILL),
    start again on the same ports and data directory."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        config: Path = CONFIG,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.config = config
        self.extra_args = extra_args
        self.workdir = workdir
        self.data_dir = workdir / "loki-data"
        # Loki's working directory, empty and apart from the data: a path the config
        # leaves to its default resolves against it, and a test can see that happen.
        self.cwd = workdir / "loki-cwd"
        self.log_path = workdir / "loki.log"
        self.http_port = free_port()
        self.grpc_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        super().__init__(f"http://127.0.0.1:{self.http_port}")

    @property
    def command(self) -> list[str]:
        return [
            self.binary,
            f"-config.file={self.config}",
            "-config.expand-env=true",
            "-server.http-listen-address=127.0.0.1",
            f"-server.http-listen-port={self.http_port}",
            "-server.grpc-listen-address=127.0.0.1",
            f"-server.grpc-listen-port={self.grpc_port}",
            *self.extra_args,
        ]

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, ready_timeout: float = 90.0) -> None:
        if self.running:
            raise RuntimeError("Loki is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, "LOKI_DATA_DIR": str(self.data_dir)},
            )
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop(kill=True)
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"Loki exited during start-up; last lines:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/ready", timeout=2.0)
                last = f"HTTP {response.status_code}: {response.text.strip()}"
                if response.status_code == 200 and response.text.strip() == "ready":
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        pytest.fail(f"Loki not ready after {timeout}s ({last}); log:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False, timeout: float = 60.0) -> int:
        """SIGTERM (or SIGKILL) the process and wait for it; returns its exit code."""
        if self._process is None:
            raise RuntimeError("Loki is not running")
        process, self._process = self._process, None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                pytest.fail(f"Loki did not stop within {timeout}s of SIGTERM")
        return int(process.returncode)

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self) -> list[str]:
        """Lines Loki logged at warn or error level since this helper first started it."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "level=warn" in line or "level=error" in line]


@contextmanager
def loki(
    workdir: Path, *, config: Path = CONFIG, extra_args: tuple[str, ...] = ()
) -> Iterator[RunningLoki]:
    """The real Loki with the repository's config on free loopback ports (see module doc).

    `extra_args` are more command-line flags (a test that needs Loki's behaviour with one
    setting changed passes the flag, never an edited config)."""
    binary = require_binary("loki", INSTALL)
    instance = RunningLoki(binary, workdir, config, extra_args)
    instance.start()
    try:
        yield instance
    finally:
        if instance.running:
            instance.stop(kill=False)
