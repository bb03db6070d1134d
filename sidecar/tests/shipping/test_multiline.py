"""Multiline text logs (multiline.py): a traceback or stack trace is one entry.

The records are real: Python tracebacks are written by Python's own logging (chained
and nested exceptions, stack_info), Java stack traces have the shape the JVM prints
(`Caused by:`, `Suppressed:`, `... N more`). Each record must reach Loki whole, once,
as one entry, through rotation, truncation and a crash, and every line read is counted
(read = entries + joined).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.loki import line_counts, now_ns
from tests.support.loki import loki as real_loki
from tests.support.loki_double import LokiDouble
from tests.support.sidecar_process import sidecar_process

from .conftest import Harness

# Python logging's default shape, in UTC: 2026-11-25T10:00:00.123Z ERROR orders: message
START = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
PYTHON = {
    "format": "text",
    "text": {
        "level_pattern": r"^\S+ (?P<level>[A-Z]+) ",
        "timestamp_pattern": r"^(?P<timestamp>\S+Z) ",
    },
    "multiline": {"start": START, "flush_seconds": 0.3},
}


class _Recorder(logging.Handler):
    """Keeps each formatted record: what the file handler wrote, record by record."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), self.format(record)))


def _place_order(order: int) -> None:
    try:
        {"orders": {}}["orders"][order]
    except KeyError as exc:
        raise RuntimeError(f"order {order} cannot be placed") from exc


def write_python_log(path: Path, name: str = "orders") -> list[tuple[str, str]]:
    """Log info lines and real tracebacks to `path` with logging; the records it wrote."""
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(formatter)
    recorder = _Recorder(formatter)
    logger = logging.getLogger(f"multiline-test.{name}")
    logger.propagate = False
    logger.handlers[:] = [file_handler, recorder]
    logger.setLevel(logging.INFO)
    try:
        logger.info("starting")
        for order in (1, 2):
            try:
                _place_order(order)
            except RuntimeError:
                logger.exception("placing order %d failed", order)
        try:
            try:
                1 / 0  # noqa: B018
            except ZeroDivisionError:
                json.loads("{not json")
        except ValueError:
            logger.error("nested failure", exc_info=True)
        logger.warning("a slow request", stack_info=True)
        logger.info("done")
    finally:
        file_handler.close()
    return recorder.records


JAVA = """\
2026-11-25T10:00:00.001Z INFO [main] c.e.orders.OrderService - starting
2026-11-25T10:00:01.002Z ERROR [http-nio-8080-exec-1] c.e.orders.OrderController - request failed
org.springframework.web.util.NestedServletException: Request processing failed
\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)
\tat org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:909)
\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:681)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.lang.IllegalStateException: order 42 cannot be placed
\tat com.example.orders.OrderService.place(OrderService.java:57)
\tat com.example.orders.OrderController.create(OrderController.java:31)
\t... 4 more
\tSuppressed: java.io.IOException: connection reset
\t\tat com.example.orders.Store.close(Store.java:12)
\t\t... 5 more
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\t... 6 more
2026-11-25T10:00:02.003Z WARN [main] c.e.orders.OrderService - retrying
2026-11-25T10:00:03.004Z INFO [main] c.e.orders.OrderService - done
"""


def java_records() -> list[str]:
    records: list[list[str]] = []
    for line in JAVA.splitlines():
        if line[:4].isdigit():
            records.append([line])
        else:
            records[-1].append(line)
    return ["\n".join(lines) for lines in records]


def _source(harness: Harness, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "service_name": "svc",
        "paths": [str(harness.logs / "*.log*")],
        **PYTHON,
        **overrides,
    }


def _entries(loki: LokiDouble) -> list[tuple[str, str]]:
    """(level label, line) of every stored entry, in timestamp order."""
    found = []
    for labels, entries in loki.streams().items():
        level = labels.split('level="')[1].split('"')[0]
        found.extend((entry.ts, level, entry.line) for entry in entries)
    return [(level, line) for _, level, line in sorted(found)]


def _lines(loki: LokiDouble) -> list[str]:
    return [line for _, line in _entries(loki)]


def _counted(harness: Harness, sidecar: Any, name: str, **labels: str) -> float:
    return harness.metric(sidecar, name, **labels)


async def test_python_tracebacks_written_by_logging_are_one_entry_each(
    harness: Harness, loki: LokiDouble
) -> None:
    records = write_python_log(harness.logs / "app.log")
    physical = sum(text.count("\n") + 1 for _, text in records)
    assert any("Traceback (most recent call last):" in text for _, text in records)
    assert any("The above exception was the direct cause" in text for _, text in records)
    assert any("During handling of the above exception" in text for _, text in records)
    assert any("Stack (most recent call last):" in text for _, text in records)
    async with harness.running(harness.config(sources=[_source(harness)])) as sidecar:
        await harness.eventually(lambda: len(_entries(loki)) == len(records), what="records")
        assert sorted(_entries(loki)) == sorted(records)
        # Counted once the sidecar has read Loki's answer, a moment after Loki stored them.
        await harness.eventually(
            lambda: _counted(harness, sidecar, "sidecar_log_lines_shipped_total") == len(records),
            what="shipped counted",
        )
        read = _counted(harness, sidecar, "sidecar_log_lines_read_total")
        joined = _counted(harness, sidecar, "sidecar_log_lines_joined_total")
        assert (read, joined) == (physical, physical - len(records))


async def test_java_stack_traces_are_one_entry_each(harness: Harness, loki: LokiDouble) -> None:
    (harness.logs / "app.log").write_text(JAVA)
    source = _source(
        harness, text={"level_pattern": r"^\S+ (?P<level>[A-Z]+) "}, multiline={"start": START}
    )
    async with harness.running(harness.config(sources=[source])):
        expected = java_records()
        await harness.eventually(lambda: len(_lines(loki)) == len(expected), what="records")
        assert sorted(_lines(loki)) == sorted(expected)
        (error,) = [line for level, line in _entries(loki) if level == "error"]
        assert error.endswith("\t... 6 more")
        assert "\tSuppressed: java.io.IOException: connection reset" in error


async def test_a_record_past_a_limit_is_cut_and_the_cut_counted(
    harness: Harness, loki: LokiDouble
) -> None:
    trace = ["2026-11-25T10:00:00.000Z ERROR x: boom", *(f"  frame {n}" for n in range(11))]
    (harness.logs / "app.log").write_text("\n".join(trace) + "\n")
    (harness.logs / "big.log").write_text(
        "2026-11-25T10:00:01.000Z ERROR y: " + "z" * 300 + "\n" + ("  " + "w" * 200 + "\n") * 3
    )
    source = _source(
        harness, multiline={"start": START, "max_lines": 5, "max_bytes": 500, "flush_seconds": 0.2}
    )
    async with harness.running(harness.config(sources=[source])) as sidecar:
        await harness.eventually(lambda: len(_lines(loki)) == 3 + 3, what="the cut records")
        lines = _lines(loki)
        assert "\n".join(trace[:5]) in lines
        assert "\n".join(trace[5:10]) in lines
        assert "\n".join(trace[10:]) in lines
        assert all(len(line.encode()) <= 500 for line in lines)
        split = _counted(
            harness, sidecar, "sidecar_log_lines_malformed_total", reason="multiline_split"
        )
        assert split == 2 + 2


async def test_a_line_over_max_line_bytes_is_a_record_cut_and_marked_and_the_next_ones_whole(
    harness: Harness, loki: LokiDouble
) -> None:
    before = "2026-11-25T10:00:00.000Z ERROR x: boom\n  frame 1"
    long_line = "2026-11-25T10:00:01.000Z ERROR y: " + "y" * 3000
    after = "2026-11-25T10:00:02.000Z INFO z: after\n  frame 2"
    path = harness.logs / "app.log"
    path.write_text(f"{before}\n{long_line}\n{after}\n")
    config = harness.config(shipping={"max_line_bytes": 1024}, sources=[_source(harness)])
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(_lines(loki)) == 3, what="3 records")
        truncated = _counted(
            harness, sidecar, "sidecar_log_lines_malformed_total", reason="truncated"
        )
        assert truncated == 1
        positions = harness.tmp_path / "positions.json"
        size = path.stat().st_size
        await harness.eventually(lambda: _checkpoint(positions) == size, what="checkpoint at end")
    first, cut, last = _entries(loki)
    assert (first, last) == (("error", before), ("info", after))
    level, line = cut
    assert level == "error"
    assert line.startswith(long_line[:900])
    assert line.endswith(f" [sidecar: line truncated, {len(long_line)} bytes > 1024]")
    assert len(line.encode()) <= 1024


async def test_a_record_whose_next_line_never_comes_is_shipped_after_flush_seconds(
    harness: Harness, loki: LokiDouble
) -> None:
    record = "2026-11-25T10:00:00.000Z ERROR x: last words\n  frame 1\n  frame 2"
    (harness.logs / "app.log").write_text(record + "\n")
    async with harness.running(harness.config(sources=[_source(harness)])):
        await harness.eventually(lambda: _lines(loki) == [record], what="the lone record")
        size = (harness.logs / "app.log").stat().st_size
        positions = harness.tmp_path / "positions.json"
        await harness.eventually(
            lambda: _checkpoint(positions) == size, what="checkpoint at the end"
        )


async def test_a_record_cut_by_rename_rotation_arrives_in_two_parts_every_line_once(
    harness: Harness, loki: LokiDouble
) -> None:
    a = "2026-11-25T10:00:00.000Z ERROR x: a\n  a1\n  a2"
    b_head = "2026-11-25T10:00:01.000Z ERROR x: b\n  b1"
    b_tail = "  b2\n  b3"
    c = "2026-11-25T10:00:02.000Z INFO x: c"
    d = "2026-11-25T10:00:03.000Z INFO x: d\n  d1"
    path = harness.logs / "app.log"
    # Rotated names outside the glob: the rotated file is drained and released.
    source = _source(harness, paths=[str(path)], multiline={"start": START, "flush_seconds": 30})
    async with harness.running(harness.config(sources=[source])):
        path.write_text(f"{a}\n{b_head}\n")
        await harness.eventually(lambda: _lines(loki) == [a], what="a")
        os.rename(path, harness.logs / "app.log.1")
        path.write_text(f"{b_tail}\n{c}\n{d}\n")
        # b's head ships when its file is released; b's tail and c when c and d begin.
        await harness.eventually(lambda: len(_lines(loki)) == 4, what="b head, b tail and c")
        assert sorted(_lines(loki)) == sorted([a, b_head, b_tail, c])
    # d was held at shutdown: not lost, re-read from its first line at the next start.
    async with harness.running(harness.config(sources=[source])):
        with path.open("a") as log:
            log.write("2026-11-25T10:00:04.000Z INFO x: e\n")
        await harness.eventually(lambda: d in _lines(loki), what="d after the restart")
        assert sorted(_lines(loki)) == sorted([a, b_head, b_tail, c, d])
        assert loki.collapsed == 0, "a record was sent twice"


async def test_a_record_cut_by_copytruncate_is_read_again_from_the_copy_once(
    harness: Harness, loki: LokiDouble
) -> None:
    a = "2026-11-25T10:00:00.000Z ERROR x: a\n  a1"
    b_head = "2026-11-25T10:00:01.000Z ERROR x: b\n  b1"
    b_tail = "  b2"
    c = "2026-11-25T10:00:02.000Z INFO x: c"
    path = harness.logs / "app.log"
    source = _source(harness, multiline={"start": START, "flush_seconds": 0.5})
    async with harness.running(harness.config(sources=[source])) as sidecar:
        path.write_text(f"{a}\n{b_head}\n")
        await harness.eventually(lambda: _lines(loki) == [a], what="a")
        shutil.copy(path, harness.logs / "app.log.1")
        os.truncate(path, 0)
        with path.open("a") as log:
            log.write(f"{b_tail}\n{c}\n")
        await harness.eventually(lambda: len(_lines(loki)) == 4, what="every record")
        assert sorted(_lines(loki)) == sorted([a, b_head, b_tail, c])
        assert loki.collapsed == 0
        read = _counted(harness, sidecar, "sidecar_log_lines_read_total")
        joined = _counted(harness, sidecar, "sidecar_log_lines_joined_total")
        assert (read, joined) == (6, 2)


@pytest.mark.integration
def test_a_crash_while_a_record_is_held_ships_it_whole_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "app.log"
    a = "2026-11-25T10:00:00.000Z ERROR x: a\n  a1"
    b = "2026-11-25T10:00:01.000Z ERROR x: b\n  b1\n  b2"
    source = {
        "name": "app",
        "service_name": "svc",
        "paths": [str(logs / "*.log")],
        **PYTHON,
        "multiline": {"start": START, "flush_seconds": 60},
    }
    with LokiDouble() as loki:
        with sidecar_process(tmp_path, loki.url, [source]) as sidecar:
            path.write_text(f"{a}\n{b}\n")
            deadline = time.monotonic() + 30
            # a is handed on (so b's first line was read and b is held), and a's
            # checkpoint is written: it ends where b begins.
            while _checkpoint(sidecar.positions) != len(a) + 1:
                assert time.monotonic() < deadline, "a never checkpointed"
                time.sleep(0.05)
            assert _lines(loki) == [a]
            os.kill(sidecar.process.pid, signal.SIGKILL)
            sidecar.process.wait(timeout=30)
        with sidecar_process(tmp_path, loki.url, [source]) as sidecar:
            with path.open("a") as log:
                log.write("2026-11-25T10:00:02.000Z INFO x: c\n")
            deadline = time.monotonic() + 30
            while b not in _lines(loki):
                assert time.monotonic() < deadline, f"b never arrived: {_lines(loki)}"
                time.sleep(0.05)
            assert sorted(_lines(loki)) == sorted([a, b])
            pushed = sum(r.entries for r in loki.requests if r.status == 204)
            assert pushed == 2, "a record was sent twice or in parts"
            assert httpx.get(f"{sidecar.url}/health/ready", timeout=5).status_code == 200


def _checkpoint(positions: Path) -> int:
    try:
        files = json.loads(positions.read_text())["files"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1
    return max((entry["offset"] for entry in files.values()), default=-1)


@pytest.mark.integration
def test_tracebacks_and_stack_traces_are_one_entry_each_in_the_real_loki(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = now_ns()
    records = write_python_log(logs / "python.log")
    # The Java trace, stamped now: Loki refuses entries older than a week.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    java = [f"{stamp}.{n:03d}Z{r[24:]}" for n, r in enumerate(java_records())]
    (logs / "java.log").write_text("\n".join(java) + "\n")
    sources = [
        {"name": "python", "service_name": "svc", "paths": [str(logs / "python.log")], **PYTHON},
        {"name": "java", "service_name": "svc", "paths": [str(logs / "java.log")], **PYTHON},
    ]
    with (
        real_loki(tmp_path / "loki") as loki,
        sidecar_process(tmp_path, loki.push_url, sources) as sidecar,
    ):
        expected = len(records) + len(java)
        entries = loki.wait_for_entries('{service_name="svc"}', expected, started - 10**9)
        assert len(entries) == expected, line_counts(entries).duplicated
        by_source = {"python": [], "java": []}  # type: dict[str, list[tuple[str, str]]]
        for entry in entries:
            by_source[entry.labels["source"]].append((entry.labels["level"], entry.line))
        assert sorted(by_source["python"]) == sorted(records)
        assert sorted(line for _, line in by_source["java"]) == sorted(java)
        assert ("error", next(r for r in java if "Caused by" in r)) in by_source["java"]
        # read = shipped entries + lines joined into them; shipped is counted once the
        # sidecar has read Loki's answer, a moment after Loki stored the entries.
        deadline = time.monotonic() + 30
        while sidecar.metric("sidecar_log_lines_shipped_total") < expected:
            assert time.monotonic() < deadline, "shipped never counted"
            time.sleep(0.1)
        read = sidecar.metric("sidecar_log_lines_read_total")
        joined = sidecar.metric("sidecar_log_lines_joined_total")
        shipped = sidecar.metric("sidecar_log_lines_shipped_total")
        assert (shipped, read) == (expected, expected + joined)
        assert joined > 0
