"""Benchmark: 1,000,000 JSON lines (~200 bytes) from a file to a local push endpoint.

    .venv/bin/python bench/log_shipping/run.py [--lines N] [--encoding protobuf|json] [--loki]

The sidecar runs as its own process pinned to one core; the push endpoint is a sink
in another process that answers 204 (so its work is not the sidecar's), or with --loki
the real Loki with the repository's loki/loki.yaml (tests/support/loki.py), where every
line is then read back and counted, duplicates too. Printed:
lines/s, MB/s, CPU seconds and peak RSS of the sidecar, and a baseline measured in the
same run: reading the file and parsing every line with orjson, nothing else, as a
ratio of lines per CPU second (wall time on a shared machine measures the neighbours).
Targets: >= 110,000 lines per CPU second against the sink, >= 115,000 against a real
Loki, peak RSS <= 150 MB (bench/log_shipping/README.md has the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import psutil
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_lines(path: Path, count: int, base: int = 1_795_600_800_000) -> int:
    """`count` lines 1 ms apart from `base` (ms since the epoch)."""
    with path.open("wb") as handle:
        for n in range(count):
            stamp = base + n
            seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp // 1000))
            record = {
                "timestamp": f"{seconds}.{stamp % 1000:03d}Z",
                "level": "error" if n % 50 == 0 else "info",
                "logger": "app.api",
                "message": f"request handled {n:08d}",
                "service_name": "bench",
                "trace_id": f"{n:032x}",
                "span_id": f"{n:016x}",
            }
            handle.write(orjson.dumps(record) + b"\n")
    return path.stat().st_size


def sink(port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def baseline(path: Path) -> float:
    """Lines per second for the least any shipper must do: read and parse each line."""
    started = time.process_time()
    count = 0
    with path.open("rb") as handle:
        carry = b""
        while chunk := handle.read(1 << 18):
            parts = (carry + chunk).split(b"\n")
            carry = parts.pop()
            for part in parts:
                orjson.loads(part)
                count += 1
    return count / (time.process_time() - started)


def metric_sum(port: int, prefix: str, having: str = "") -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and having in line
    )


def tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds of the sidecar and every process it started (its shipping process)."""
    times = proc.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """RSS and PSS summed over the sidecar's processes (PSS counts shared pages once)."""
    rss = pss = 0
    for member in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            info = member.memory_full_info()
            rss += info.rss
            pss += info.pss
    return rss, pss


def tree_peak_rss_kb(proc: psutil.Process) -> list[int]:
    """Each process's own peak RSS (VmHWM), main first; their sum is an upper bound of
    the peak together."""
    peaks = []
    for member in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(OSError, psutil.NoSuchProcess):
            status = Path(f"/proc/{member.pid}/status").read_text()
            peaks.append(
                int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])
            )
    return peaks


def shipped(port: int) -> float:
    return metric_sum(port, "sidecar_log_lines_shipped_total{")


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--encoding", choices=["protobuf", "json"], default="protobuf")
    parser.add_argument("--loki", action="store_true", help="ship into a real Loki")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        (tmp / "logs").mkdir()
        log = tmp / "logs" / "app.log"
        # Loki refuses samples older than a week: with it, the lines end now.
        base = int(time.time() * 1000) - args.lines if args.loki else 1_795_600_800_000
        size = write_lines(log, args.lines, base)
        port = free_port()
        instance = None
        if args.loki:
            sys.path.insert(0, str(REPO))
            from tests.support.loki import loki

            instance = stack.enter_context(loki(tmp))
            url = instance.push_url
        else:
            sink_port = free_port()
            sink_process = subprocess.Popen(
                [sys.executable, "-c", f"import run; run.sink({sink_port})"],
                cwd=Path(__file__).parent,
            )
            stack.callback(sink_process.wait)
            stack.callback(sink_process.kill)
            url = f"http://127.0.0.1:{sink_port}/loki/api/v1/push"
        config = {
            "log_level": "warning",
            "server": {"port": port},
            "loki": {"url": url, "encoding": args.encoding},
            "shipping": {"positions_file": str(tmp / "positions.json")},
            "sources": [{"name": "bench", "service_name": "bench", "paths": [str(log)]}],
        }
        (tmp / "sidecar.yaml").write_text(yaml.safe_dump(config))
        base_rate = baseline(log)
        started = time.monotonic()
        sidecar = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--config", str(tmp / "sidecar.yaml")],
            preexec_fn=lambda: os.sched_setaffinity(0, {0}),  # one core
        )
        ready_at = None
        proc = psutil.Process(sidecar.pid)
        peak_rss = peak_pss = 0
        next_sample = 0.0
        try:
            while shipped(port) < args.lines:
                if ready_at is None and _ready(port):
                    ready_at = time.monotonic()
                if sidecar.poll() is not None:
                    raise SystemExit("the sidecar exited early")
                if time.monotonic() >= next_sample:
                    rss, pss = tree_memory(proc)
                    peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                    next_sample = time.monotonic() + 0.5
                time.sleep(0.05)
            finished = time.monotonic()
            elapsed = finished - started
            shipping = finished - (ready_at or started)
            pushes = metric_sum(port, "sidecar_log_ship_duration_seconds_count{")
            push_seconds = metric_sum(port, "sidecar_log_ship_duration_seconds_sum{")
            cpu_seconds = tree_cpu(proc)
            peak_kb = tree_peak_rss_kb(proc)
            processes = 1 + len(proc.children(recursive=True))
            outcomes = {
                outcome: metric_sum(port, "sidecar_log_ship_requests_total{", f'"{outcome}"')
                for outcome in ("success", "rate_limited", "server_error", "error")
            }
        finally:
            sidecar.send_signal(signal.SIGTERM)
            sidecar.wait(timeout=30)
        counted = None
        if instance is not None:
            from tests.support.loki import line_counts

            entries = instance.query_range(
                '{service_name="bench"}', base * 10**6, (base + args.lines) * 10**6
            )
            counted = line_counts(entries)
    rate = args.lines / shipping
    print(f"lines:            {args.lines:,} ({size / 1e6:.1f} MB, {size / args.lines:.0f} B/line)")
    print(f"encoding:         {args.encoding}")
    print(f"wall time:        {elapsed:.2f} s from process start, {shipping:.2f} s from ready")
    print(f"throughput:       {rate:,.0f} lines/s, {size / shipping / 1e6:.1f} MB/s (from ready)")
    per_cpu = args.lines / cpu_seconds
    print(
        f"sidecar CPU:      {cpu_seconds:.2f} s ({per_cpu:,.0f} lines per CPU second), "
        f"{processes} process(es)"
    )
    print(
        f"sidecar memory:   peak RSS {sum(peak_kb) / 1024:.1f} MiB = "
        + " + ".join(f"{kb / 1024:.1f}" for kb in peak_kb)
        + " (each process's VmHWM, main first); "
        f"sampled every 0.5 s: RSS {peak_rss / 2**20:.1f} MiB, PSS {peak_pss / 2**20:.1f} MiB"
    )
    print(f"pushes:           {pushes:.0f}, {push_seconds:.2f} s on the wire in total")
    print(f"push outcomes:    {', '.join(f'{k} {v:.0f}' for k, v in outcomes.items())}")
    if counted is not None:
        print(
            f"in Loki:          {counted.total:,} entries, {counted.distinct:,} distinct lines, "
            f"{counted.duplicates:,} returned twice"
        )
    print(f"baseline:         {base_rate:,.0f} lines per CPU second (read + orjson.loads only)")
    # Both sides per CPU second: on a shared machine wall time measures the neighbours.
    print(f"ratio:            {per_cpu / base_rate:.3f} of baseline (per CPU second)")


if __name__ == "__main__":
    main()
