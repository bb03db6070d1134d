"""The sidecar as a real process: SIGTERM, its own output, and the chaos test."""

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
import yaml

from tests.support import free_port, wait_http
from tests.support.loki_double import LokiDouble
from tests.support.sidecar_process import WrittenConfig, write_config
from tests.support.sidecar_process import start as start_sidecar

pytestmark = pytest.mark.integration


# The original intervals of these tests, a little faster than sidecar_process()'s.
_FAST = {
    "loki": {"batch_max_wait_seconds": 0.1, "backoff": {"max_seconds": 0.5}},
    "shipping": {
        "scan_interval_seconds": 0.1,
        "checkpoint_interval_seconds": 0.1,
        "shutdown_deadline_seconds": 5,
    },
}


def _config(tmp: Path, loki: LokiDouble) -> WrittenConfig:
    source = {"name": "app", "service_name": "svc", "paths": [str(tmp / "logs" / "*")]}
    return write_config(tmp, loki.url, [source], _FAST)


def _messages(loki: LokiDouble) -> list[str]:
    return [json.loads(line)["message"] for line in loki.lines()]


def test_sigterm_flushes_then_checkpoints(tmp_path, loki):
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text(
        "".join(json.dumps({"level": "info", "message": f"m{n}"}) + "\n" for n in range(3))
    )
    config, port, positions = _config(tmp_path, loki)
    text = config.read_text()
    config.write_text(text.replace("batch_max_wait_seconds: 0.1", "batch_max_wait_seconds: 60"))
    process = start_sidecar(config, tmp_path / "sidecar.out")
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")
        deadline = time.monotonic() + 15
        while "sidecar_log_lines_read_total{" not in _read_metric(port):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert loki.lines() == []  # held by the 60 s batch wait
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert sorted(_messages(loki)) == ["m0", "m1", "m2"]
    files = json.loads(positions.read_text())["files"]
    assert [e["offset"] for e in files.values()] == [log.stat().st_size]


def _read_metric(port: int) -> str:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return "\n".join(
        line
        for line in text.splitlines()
        if line.startswith("sidecar_log_lines_read_total{") and not line.endswith(" 0.0")
    )


def test_own_output_in_a_tailed_directory_is_not_shipped(tmp_path, loki):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(json.dumps({"message": "from the app"}) + "\n")
    config, port, _ = _config(tmp_path, loki)
    # The sidecar's stdout lands inside its own glob: a feedback loop if it tailed it.
    process = start_sidecar(config, tmp_path / "logs" / "sidecar.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")
        deadline = time.monotonic() + 15
        while not loki.lines():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # several scans with the sidecar's own log growing
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert "sidecar running" in (tmp_path / "logs" / "sidecar.log").read_text()
    assert _messages(loki) == ["from the app"]


class _Writer(threading.Thread):
    """Writes N numbered lines, rotating by rename and by copytruncate in turn."""

    def __init__(self, logs: Path, total: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.logs, self.total, self.seconds = logs, total, seconds
        self.rotations = {"rename": 0, "copytruncate": 0}

    def _shift(self) -> None:
        rotated = sorted(
            (p for p in self.logs.glob("app.log.*")), key=lambda p: int(p.suffix[1:]), reverse=True
        )
        for path in rotated:
            os.rename(path, self.logs / f"app.log.{int(path.suffix[1:]) + 1}")

    def run(self) -> None:
        path = self.logs / "app.log"
        handle = path.open("a")
        base = 1_795_600_800_000
        pause = self.seconds / self.total
        next_rotation = time.monotonic() + 1.0
        mode = "rename"
        for n in range(self.total):
            stamp = base + n
            record = {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp // 1000))
                + f".{stamp % 1000:03d}Z",
                "level": "info" if n % 7 else "error",
                "message": f"chaos {n:06d}",
            }
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            if time.monotonic() >= next_rotation:
                handle.close()
                self._shift()
                if mode == "rename":
                    os.rename(path, self.logs / "app.log.1")
                    handle = path.open("a")
                else:
                    shutil.copy(path, self.logs / "app.log.1")
                    handle = path.open("r+")
                    handle.truncate(0)
                    handle.close()
                    handle = path.open("a")
                self.rotations[mode] += 1
                mode = "copytruncate" if mode == "rename" else "rename"
                next_rotation = time.monotonic() + random.uniform(0.5, 1.5)
            if n % 50 == 0:
                time.sleep(pause * 50)
        handle.close()


def _wait_for_answer(loki: LokiDouble, status: int) -> None:
    """Let the failure window last until the sidecar has actually met it."""
    deadline = time.monotonic() + 10
    while not any(r.status == status for r in loki.requests):
        assert time.monotonic() < deadline, f"the sidecar never pushed during the {status} window"
        time.sleep(0.05)


def test_chaos_kills_rotations_and_loki_failures_lose_nothing(tmp_path, loki):
    total = 15_000
    logs = tmp_path / "logs"
    logs.mkdir()
    config, _, _ = _config(tmp_path, loki)
    writer = _Writer(logs, total, seconds=12.0)
    out = tmp_path / "sidecar.out"
    kills = 0
    process = start_sidecar(config, out)
    writer.start()
    started = time.monotonic()
    try:
        while writer.is_alive() or kills < 5:
            # Loki's answer until the next kill: 500, then 429 with Retry-After, then OK.
            status = (500, 429, None)[kills % 3]
            loki.fail(status, retry_after="1" if status == 429 else None)
            time.sleep(random.uniform(0.7, 2.0))
            if status is not None:
                _wait_for_answer(loki, status)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
            process = start_sidecar(config, out)
            assert time.monotonic() - started < 60, "chaos phase ran too long"
        writer.join(timeout=30)
        loki.fail(None)
        expected = {f"chaos {n:06d}" for n in range(total)}
        deadline = time.monotonic() + 40
        while set(_messages(loki)) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    received = _messages(loki)
    missing = expected - set(received)
    extra = set(received) - expected
    assert not missing, sorted(missing)[:10]
    assert not extra, sorted(extra)[:10]
    assert kills >= 5
    assert writer.rotations["rename"] >= 2
    assert writer.rotations["copytruncate"] >= 2
    assert any(r.status == 500 for r in loki.requests)
    assert any(r.status == 429 for r in loki.requests)
    # Re-sends carried the same timestamps, so Loki collapsed them: no duplicates stored.
    assert len(received) == total
    assert not loki.refused


def _metric(port: int, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _wait(predicate, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_2_loki_down_with_a_100_mb_backlog_leaves_the_sidecar_idle(tmp_path):
    """Finding 2: the batch loop waited with a zero timeout and burnt a core."""
    import psutil

    logs = tmp_path / "logs"
    logs.mkdir()
    line = json.dumps({"level": "info", "message": "x" * 180}).encode() + b"\n"
    with (logs / "app.log").open("wb") as handle:
        for _ in range(100):
            handle.write(line * (1_000_000 // len(line)))
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/loki/api/v1/push"  # nothing listens: Loki down
    config = {
        "server": {"port": port},
        "loki": {"url": dead},  # default batching and backoff, as deployed
        "shipping": {"positions_file": str(tmp_path / "positions.json")},
        "sources": [{"name": "app", "service_name": "svc", "paths": [str(logs / "*")]}],
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = start_sidecar(tmp_path / "sidecar.yaml", tmp_path / "sidecar.out")
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")
        _wait(
            lambda: _metric(port, "sidecar_log_ship_requests_total", outcome="error") >= 4,
            "4 failed pushes",
        )

        def paused() -> bool:
            before = _metric(port, "sidecar_log_lines_read_total")
            time.sleep(1.0)
            return before > 0 and _metric(port, "sidecar_log_lines_read_total") == before

        _wait(paused, "reading paused on the full buffer")
        # The main process and its shipping process.
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children()]

        def cpu() -> float:
            return sum(sum(member.cpu_times()[:2]) for member in tree)

        cpu_before = cpu()
        started = time.monotonic()
        time.sleep(30)
        share = (cpu() - cpu_before) / (time.monotonic() - started)
        assert _metric(port, "sidecar_log_lines_shipped_total") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    print(f"CPU while Loki is down with a 100 MB backlog: {share:.2%} of a core over 30 s")
    assert share <= 0.02, f"{share:.1%} of a core while Loki is down"


def test_3_symlinks_out_of_the_roots_proc_files_and_fifos_are_refused(tmp_path, loki):
    """Finding 3: a symlink shipped a file from elsewhere; /proc/self/environ spun the loop."""
    logs = tmp_path / "logs"
    logs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text('{"message": "SECRET"}\n')
    (logs / "app.log").write_text('{"message": "from the app"}\n')
    (logs / "secret.log").symlink_to(outside / "secret.log")
    (logs / "environ.log").symlink_to("/proc/self/environ")
    os.mkfifo(logs / "pipe.log")
    config, port, _ = _config(tmp_path, loki)
    out = tmp_path / "sidecar.out"
    process = start_sidecar(config, out)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready")

        def refused(reason: str) -> float:
            return _metric(port, "sidecar_log_files_refused_total", reason=reason)

        _wait(
            lambda: (
                (refused("outside_roots"), refused("pseudo_fs"), refused("not_regular"))
                == (1, 1, 1)
            ),
            "each path refused once",
        )
        _wait(lambda: loki.lines(), "the app's line")
        assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert _messages(loki) == ["from the app"]
    assert not any("PATH=" in line for line in loki.lines())
    warnings = [x for x in out.read_text().splitlines() if "not tailing a matched path" in x]
    assert len(warnings) == 3  # once per file, not once per scan
