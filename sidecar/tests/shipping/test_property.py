"""The shipper's invariant, tried with arbitrary input (hypothesis, seeded and replayable).

Every line read ends up either accepted by Loki or counted under exactly one drop
reason (in a multiline source: as its own entry, or joined into one), and every file's
checkpoint reaches its end once Loki accepts. Each example is a new file of arbitrary
byte lines and arbitrary JSON records (any type and size for timestamp, level and
message; huge and negative numbers; deep nesting; NUL; invalid UTF-8), or of record
starts and continuation lines for a multiline source (with its line and byte limits
small enough to be hit), read by the real sidecar process and pushed into the Loki
double.
A failure prints `@reproduce_failure(...)`; the fixed seed replays the same run.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, wait_http
from tests.support.loki_double import LokiDouble

pytestmark = pytest.mark.integration

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["2026-11-25T10:00:00.123Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"])
    | st.sampled_from([1e30, -1e30, 2**63, 2**64, -(2**63), 1795600800123])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
# Timestamps Loki cannot store (NaN and infinity come out of json.dumps as non-JSON).
_edge_stamps = st.sampled_from(
    [1e30, -1e30, 1e300, 2**63, 2**64, -(2**63), 0, -1, 1795600800123, 1795600800123456789]
)
_stamps = _edge_stamps | st.integers() | st.floats() | _json_values
_records = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": _stamps,
        "level": _json_values,
        "message": _json_values | st.text(min_size=300, max_size=2000),
        "trace_id": _json_values,
        "span_id": _json_values,
    },
).map(lambda record: json.dumps(record).encode())  # NaN/Infinity come out as non-JSON
_deep = st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
_bytes = st.binary(max_size=400).map(lambda data: data.replace(b"\n", b""))
_lines = st.lists(
    _records | _bytes | _deep | st.just(b"\x00\x00") | st.just(b""), min_size=1, max_size=25
)
# A multiline source's records begin at lines starting with "S" (max 4 lines, 600 bytes).
_starts = _bytes.map(lambda data: b"S" + data)
_multiline_lines = st.lists(
    _starts | _bytes | st.just(b"") | st.just(b"\tat x.y(Z.java:1)"), min_size=1, max_size=30
)
MULTILINE = {"start": "^S", "max_lines": 4, "max_bytes": 600, "flush_seconds": 0.05}


class RunningSidecar:
    def __init__(self, tmp: Path, loki: LokiDouble) -> None:
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.multiline_logs = tmp / "multiline"
        self.multiline_logs.mkdir()
        self.positions = tmp / "positions.json"
        self.port = free_port()
        config = {
            "server": {"port": self.port},
            "loki": {"url": loki.url, "batch_max_wait_seconds": 0.05},
            "shipping": {
                "positions_file": str(self.positions),
                "scan_interval_seconds": 0.05,
                "poll_interval_seconds": 0.02,
                "checkpoint_interval_seconds": 0.05,
                "max_line_bytes": 1024,
            },
            "sources": [
                {"name": "app", "service_name": "svc", "paths": [str(self.logs / "*")]},
                {
                    "name": "traces",
                    "service_name": "svc",
                    "paths": [str(self.multiline_logs / "*")],
                    "format": "text",
                    "multiline": MULTILINE,
                },
            ],
        }
        (tmp / "sidecar.yaml").write_text(yaml.safe_dump(config))
        self.out = (tmp / "sidecar.out").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--config", str(tmp / "sidecar.yaml")],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        wait_http(f"http://127.0.0.1:{self.port}/health/ready")

    def counters(self, source: str = "app") -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        totals = {"read": 0.0, "shipped": 0.0, "dropped": 0.0, "joined": 0.0}
        names = {
            "sidecar_log_lines_read_total": "read",
            "sidecar_log_lines_shipped_total": "shipped",
            "sidecar_log_lines_dropped_total": "dropped",
            "sidecar_log_lines_joined_total": "joined",
        }
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in names and sample.labels.get("source") == source:
                    totals[names[sample.name]] += sample.value
        return totals

    def offset_of(self, path: Path) -> int:
        try:
            files = json.loads(self.positions.read_text())["files"]
        except (FileNotFoundError, ValueError):
            return -1
        return max((e["offset"] for e in files.values() if e["path"] == str(path)), default=-1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.out.close()


@pytest.fixture(scope="module")
def shipper(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningSidecar, LokiDouble]]:
    with LokiDouble() as loki:
        sidecar = RunningSidecar(tmp_path_factory.mktemp("property"), loki)
        try:
            yield sidecar, loki
        finally:
            sidecar.stop()


_numbers = itertools.count()


def _accepted(loki: LokiDouble) -> int:
    pushed = sum(r.entries for r in loki.requests if r.status in (204, 400))
    return pushed - sum(loki.refused.values())


@seed(20261125)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=_lines)
def test_every_line_read_is_accepted_or_counted_dropped(shipper, lines):
    sidecar, loki = shipper
    before = sidecar.counters()
    accepted_before = _accepted(loki)
    number = next(_numbers)
    path = sidecar.logs / f"example-{number:04d}.log"
    # A first line of its own: a file is known by its content, so two examples with the
    # same bytes would be one file to the sidecar.
    head = json.dumps({"message": f"example {number}"}).encode()
    path.write_bytes(b"\n".join([head, *lines]) + b"\n")
    deadline = time.monotonic() + 30
    while sidecar.offset_of(path) != path.stat().st_size:
        assert sidecar.process.poll() is None, "the sidecar exited"
        assert time.monotonic() < deadline, "the checkpoint never reached the end of the file"
        time.sleep(0.02)
    after = sidecar.counters()
    read = after["read"] - before["read"]
    shipped = after["shipped"] - before["shipped"]
    dropped = after["dropped"] - before["dropped"]
    assert read == len(lines) + 1
    assert read == shipped + dropped
    assert shipped == _accepted(loki) - accepted_before


@seed(20261130)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=_multiline_lines)
def test_every_line_of_a_multiline_source_is_accepted_or_counted(shipper, lines):
    sidecar, loki = shipper
    before = sidecar.counters("traces")
    accepted_before = _accepted(loki)
    number = next(_numbers)
    path = sidecar.multiline_logs / f"example-{number:04d}.log"
    path.write_bytes(b"\n".join([f"S example {number}".encode(), *lines]) + b"\n")
    deadline = time.monotonic() + 30
    while sidecar.offset_of(path) != path.stat().st_size:
        assert sidecar.process.poll() is None, "the sidecar exited"
        assert time.monotonic() < deadline, "the checkpoint never reached the end of the file"
        time.sleep(0.02)
    after = sidecar.counters("traces")
    read, shipped, dropped, joined = (after[k] - before[k] for k in after)
    starts = 1 + sum(1 for line in lines if line.startswith(b"S"))
    assert read == len(lines) + 1
    # Each line is shipped or dropped as an entry, or joined into the entry before it.
    assert read == shipped + dropped + joined
    assert shipped + dropped >= starts
    assert shipped == _accepted(loki) - accepted_before
