"""Against the real Loki (tests/support/loki.py, the repository's loki/loki.yaml): every
line arrives, none is returned twice, and copytruncate costs no second push.

Counted from Loki itself: query_range reads back every entry of the window, and Loki's
own `loki_distributor_lines_received_total` says how many lines were pushed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import wait_http
from tests.support.loki import RunningLoki, line_counts, loki, now_ns
from tests.support.sidecar_process import WrittenConfig, write_config
from tests.support.sidecar_process import start as start_sidecar

pytestmark = pytest.mark.integration
SELECTOR = '{service_name="svc"}'


class Writer(threading.Thread):
    """Writes `total` numbered JSON lines stamped with the current time, rotating by
    rename and/or copytruncate about every second (older copies shift up: .1, .2, ...)."""

    def __init__(self, logs: Path, total: int, seconds: float, modes: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.logs, self.total, self.seconds, self.modes = logs, total, seconds, modes
        self.rotations = dict.fromkeys(modes, 0)

    def _shift(self) -> None:
        rotated = sorted(self.logs.glob("app.log.*"), key=lambda p: int(p.suffix[1:]))
        for path in reversed(rotated):
            os.rename(path, self.logs / f"app.log.{int(path.suffix[1:]) + 1}")

    def run(self) -> None:
        path = self.logs / "app.log"
        handle = path.open("a")
        pause = self.seconds / self.total
        next_rotation = time.monotonic() + 1.0
        turn = 0
        for n in range(self.total):
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            record = {
                "timestamp": f"{stamp}.{int(now * 1000) % 1000:03d}Z",
                "level": "info" if n % 7 else "error",
                "message": f"chaos {n:07d}",
            }
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            if time.monotonic() >= next_rotation:
                handle.close()
                self._shift()
                mode = self.modes[turn % len(self.modes)]
                turn += 1
                if mode == "rename":
                    os.rename(path, self.logs / "app.log.1")
                else:
                    shutil.copy(path, self.logs / "app.log.1")
                    os.truncate(path, 0)
                handle = path.open("a")
                self.rotations[mode] += 1
                next_rotation = time.monotonic() + random.uniform(0.7, 1.3)
            if n % 100 == 0:
                time.sleep(pause * 100)
        handle.close()


def _config(tmp: Path, url: str) -> WrittenConfig:
    source = {"name": "app", "service_name": "svc", "paths": [str(tmp / "logs" / "*")]}
    # Scans often and waits a second before releasing: the writer rotates every ~1 s.
    shipping = {"scan_interval_seconds": 0.1, "rotate_wait_seconds": 1}
    return write_config(tmp, url, [source], {"shipping": shipping})


def _received(instance: RunningLoki) -> float:
    text = httpx.get(f"{instance.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("loki_distributor_lines_received_total")
    )


def _sidecar_totals(port: int) -> dict[str, float]:
    """The sidecar's lines read and shipped, and its push requests by outcome."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sidecar_log_ship_requests_total":
                key = f"requests:{sample.labels['outcome']}"
            elif sample.name in ("sidecar_log_lines_read_total", "sidecar_log_lines_shipped_total"):
                key = sample.name
            else:
                continue
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def _read_back(instance: RunningLoki, start: int, expected: set[str], timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        entries = instance.query_range(SELECTOR, start, now_ns() + 60 * 10**9)
        counts = line_counts(entries)
        seen = {json.loads(e.line)["message"] for e in entries}
        if seen >= expected or time.monotonic() > deadline:
            return counts, seen
        time.sleep(1)


def test_copytruncate_against_real_loki_pushes_each_line_once(tmp_path):
    total = 60_000
    (tmp_path / "logs").mkdir()
    with loki(tmp_path) as instance:
        config, port, _ = _config(tmp_path, instance.push_url)
        start = now_ns() - 60 * 10**9
        process = start_sidecar(config, tmp_path / "sidecar.out")
        try:
            wait_http(f"http://127.0.0.1:{port}/health/ready")
            writer = Writer(tmp_path / "logs", total, seconds=15.0, modes=("copytruncate",))
            writer.start()
            writer.join(timeout=120)
            expected = {f"chaos {n:07d}" for n in range(total)}
            counts, seen = _read_back(instance, start, expected)
            pushed = _received(instance)
            sidecar = _sidecar_totals(port)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        volume = instance.metric_query_range(
            f"sum(count_over_time({SELECTOR}[1h]))", now_ns(), now_ns(), 1
        )
    assert writer.rotations["copytruncate"] >= 5
    assert not expected - seen, sorted(expected - seen)[:5]
    print(
        f"copytruncate x{writer.rotations['copytruncate']}: pushed {pushed:.0f} "
        f"for {total} written = {pushed / total:.4f}; returned twice: {counts.duplicates}; "
        f"sidecar: {sidecar}"
    )
    assert counts.duplicates == 0, list(counts.duplicated.items())[:5]
    # Each line read once: no copy is read again from its start (the finding this
    # guards), and each shipped once.
    assert sidecar["sidecar_log_lines_read_total"] == total, sidecar
    assert sidecar["sidecar_log_lines_shipped_total"] == total, sidecar
    # What Loki received on top: only batches the sidecar sent again after a failed or
    # timed-out push (Loki collapses them; none returned twice, above).
    retried = sum(
        v for k, v in sidecar.items() if k.startswith("requests:") and k != "requests:success"
    )
    assert pushed / total <= 1.01 or retried > 0, sidecar
    stored = float(volume[0]["values"][-1][1]) if volume else 0.0
    assert stored <= total * 1.01  # the volume panels count what is stored


def test_chaos_against_real_loki_loses_nothing_and_returns_nothing_twice(tmp_path):
    total = 60_000
    (tmp_path / "logs").mkdir()
    with loki(tmp_path) as instance:
        config, port, _ = _config(tmp_path, instance.push_url)
        start = now_ns() - 60 * 10**9
        out = tmp_path / "sidecar.out"
        process = start_sidecar(config, out)
        writer = Writer(tmp_path / "logs", total, seconds=25.0, modes=("rename", "copytruncate"))
        kills = 0
        pushed_before = 0.0
        try:
            wait_http(f"http://127.0.0.1:{port}/health/ready")
            writer.start()
            while writer.is_alive() and kills < 6:
                time.sleep(random.uniform(2.0, 3.5))
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                kills += 1
                if kills == 3:
                    pushed_before = _received(instance)  # Loki's counter restarts with it
                    instance.restart()  # Loki away for a moment, then back on its data
                process = start_sidecar(config, out)
            writer.join(timeout=120)
            expected = {f"chaos {n:07d}" for n in range(total)}
            counts, seen = _read_back(instance, start, expected)
            pushed = pushed_before + _received(instance)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert kills >= 5
    assert writer.rotations["rename"] >= 2
    assert writer.rotations["copytruncate"] >= 2
    assert not expected - seen, sorted(expected - seen)[:5]
    # Each kill re-sends what was in flight or acknowledged after the last checkpoint.
    print(
        f"{kills} SIGKILLs, a Loki restart: pushed {pushed:.0f} for {total} written = "
        f"{pushed / total:.4f}; returned twice: {counts.duplicates}"
    )
    assert counts.duplicates == 0, list(counts.duplicated.items())[:5]
