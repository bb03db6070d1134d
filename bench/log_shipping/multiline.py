"""Benchmark: what joining tracebacks costs (sources[].multiline), per line read.

    .venv/bin/python bench/log_shipping/multiline.py [--lines N] [--rounds R]

A text log of Python-logging lines (`2026-11-25T10:00:00.123Z INFO app: ...`) in which
every 20th record is an ERROR with a 12-line traceback, shipped to a sink (run.py's) by
the sidecar pinned to one core, twice per round, interleaved: once as a plain text
source (every line its own entry: the baseline) and once with
`multiline: {start: '^\\d{4}-'}` (a traceback one entry). Printed per run: CPU seconds
of the sidecar's processes (main and shipping), lines read per CPU second, entries
shipped; then the ratio of the medians (multiline / plain, in lines per CPU second).
Figures: bench/log_shipping/README.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.log_shipping.run import free_port, metric_sum, tree_cpu

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/orders/service.py", line 57, in place',
    "    store.reserve(order)",
    '  File "/app/orders/store.py", line 112, in reserve',
    "    self._conn.execute(SQL_RESERVE, order.items)",
    '  File "/usr/lib/python3.13/sqlite3/__init__.py", line 44, in execute',
    "    return super().execute(sql, parameters)",
    "sqlite3.OperationalError: database is locked",
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "RuntimeError: order cannot be placed",
]


def write_log(path: Path, lines: int) -> int:
    """About `lines` physical lines; returns the exact count."""
    written = 0
    n = 0
    with path.open("w") as handle:
        while written < lines:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_795_600_800 + n // 1000))
            if n % 20 == 19:
                handle.write(f"{stamp}.{n % 1000:03d}Z ERROR app: placing order {n} failed\n")
                handle.write("\n".join(TRACEBACK) + "\n")
                written += 1 + len(TRACEBACK)
            else:
                handle.write(f"{stamp}.{n % 1000:03d}Z INFO app: request handled {n:08d}\n")
                written += 1
            n += 1
    return written


def ship(log: Path, lines: int, sink_url: str, tmp: Path, multiline: bool) -> tuple[float, float]:
    """(sidecar CPU seconds, entries shipped) for shipping `log` once."""
    port = free_port()
    positions = tmp / f"positions-{multiline}-{time.monotonic_ns()}.json"
    source = {
        "name": "bench",
        "service_name": "bench",
        "paths": [str(log)],
        "format": "text",
        "text": {"level_pattern": r"^\S+ (?P<level>[A-Z]+) "},
    }
    if multiline:
        source["multiline"] = {"start": r"^\d{4}-", "flush_seconds": 0.5}
    config = {
        "log_level": "warning",
        "server": {"port": port},
        "loki": {"url": sink_url},
        "shipping": {"positions_file": str(positions)},
        "sources": [source],
    }
    config_path = tmp / "sidecar.yaml"
    config_path.write_text(yaml.safe_dump(config))
    sidecar = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "run", "--config", str(config_path)],
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    try:
        while True:
            # Every line read is an entry shipped or dropped (the empty lines of a
            # traceback, in a plain source), or joined into one.
            done = sum(
                metric_sum(port, f"sidecar_log_lines_{kind}_total{{")
                for kind in ("shipped", "dropped", "joined")
            )
            if done >= lines:
                break
            if sidecar.poll() is not None:
                raise SystemExit("the sidecar exited early")
            time.sleep(0.2)
        entries = metric_sum(port, "sidecar_log_lines_shipped_total{")
        return tree_cpu(psutil.Process(sidecar.pid)), entries
    finally:
        sidecar.send_signal(signal.SIGTERM)
        sidecar.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "app.log"
        lines = write_log(log, args.lines)
        sink_port = free_port()
        sink = subprocess.Popen(
            [sys.executable, "-c", f"import run; run.sink({sink_port})"], cwd=Path(__file__).parent
        )
        url = f"http://127.0.0.1:{sink_port}/loki/api/v1/push"
        rates: dict[bool, list[float]] = {False: [], True: []}
        try:
            for _ in range(args.rounds):
                for multiline in (False, True):
                    cpu, entries = ship(log, lines, url, tmp, multiline)
                    rates[multiline].append(lines / cpu)
                    kind = "multiline" if multiline else "plain    "
                    print(
                        f"{kind} {cpu:6.2f} CPU s  {lines / cpu:9,.0f} lines/CPU s  "
                        f"{entries:9,.0f} entries  (load {os.getloadavg()[0]:.2f})"
                    )
        finally:
            sink.kill()
            sink.wait()
    plain, joined = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"lines: {lines:,}; median lines per CPU second: ", end="")
    print(f"plain {plain:,.0f}, multiline {joined:,.0f}")
    print(f"ratio multiline / plain: {joined / plain:.3f}")


if __name__ == "__main__":
    main()
