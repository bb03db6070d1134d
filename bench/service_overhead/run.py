"""Telemetry overhead of the sample service: the same app bare and fully instrumented.

    python bench/service_overhead/run.py [--duration 10] [--rounds 2] [--loader auto|wrk|python]

Bare: metrics, access log and tracing off. Instrumented: Prometheus metrics, one JSON
access record per request (stdout and LOG_FILE), and OpenTelemetry traces (FastAPI,
SQLAlchemy) exported over OTLP/HTTP to a local sink process. Each mode runs as one
uvicorn process serving GET /api/v1/items (two SQLite queries a request); a second
process (wrk, or load.py when wrk is absent) loads it over loopback. Modes alternate
for --rounds rounds, and the figures of one invocation are compared with each other.
Targets: instrumented RPS >= 70 % of bare; p99 added <= 2 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ENDPOINT = "/api/v1/items"


@dataclass
class Figures:
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> tuple[float, float, float]:
        return (
            statistics.median(self.rps),
            statistics.median(self.p50_ms),
            statistics.median(self.p99_ms),
        )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pin(cpu: int) -> list[str]:
    """Server and load generator on different cores, when there are two and taskset exists."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def _service_env(workdir: Path, port: int, instrumented: bool, sink_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PROMETHEUS_", "SENTRY_", "LOG_", "DATABASE_"))
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/bench.db",
        RATE_LIMIT_PER_MINUTE="100000000",
    )
    if instrumented:
        env.update(
            METRICS_ENABLED="true",
            ACCESS_LOG_ENABLED="true",
            LOG_LEVEL="info",
            LOG_FILE=str(workdir / "service.log"),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
        )
    else:
        env.update(METRICS_ENABLED="false", ACCESS_LOG_ENABLED="false", LOG_LEVEL="warning")
    return env


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"service at {url} did not become ready")


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, concurrency: int, duration: float) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [*_pin(1), "wrk", "-t1", f"-c{concurrency}", f"-d{int(duration)}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * _WRK_UNITS[unit]

    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return (
        rps,
        percentile("50"),
        percentile("99"),
        int(errors_match.group(1)) if errors_match else 0,
    )


def _python_loader(url: str, concurrency: int, duration: float) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [
            *_pin(1),
            sys.executable,
            str(HERE / "load.py"),
            url,
            f"--concurrency={concurrency}",
            f"--duration={duration}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    latencies = result["latencies_ms"]
    p50 = latencies[int(0.50 * (len(latencies) - 1))]
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    return result["requests"] / result["seconds"], p50, p99, result["errors"]


def _measure(
    instrumented: bool, loader: str, concurrency: int, duration: float, sink_port: int
) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        env = _service_env(workdir, port, instrumented, sink_port)
        server = subprocess.Popen(
            [*_pin(0), sys.executable, "-m", "sample_service"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(f"{base}/health/ready")
            load = _wrk if loader == "wrk" else _python_loader
            load(f"{base}{ENDPOINT}", concurrency, 2)  # warm-up: imports, caches, JIT-free paths
            return load(f"{base}{ENDPOINT}", concurrency, duration)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="bare/instrumented pairs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"

    sink_port = _free_port()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "otlp_sink.py"), f"--port={sink_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    figures = {"bare": Figures(), "instrumented": Figures()}
    try:
        for round_number in range(1, args.rounds + 1):
            for mode in ("bare", "instrumented"):
                rps, p50, p99, errors = _measure(
                    mode == "instrumented", loader, args.concurrency, args.duration, sink_port
                )
                figures[mode].rps.append(rps)
                figures[mode].p50_ms.append(p50)
                figures[mode].p99_ms.append(p99)
                figures[mode].errors += errors
                print(
                    f"round {round_number} {mode:>12}: {rps:9.1f} req/s  "
                    f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  errors {errors}",
                    flush=True,
                )
    finally:
        sink.terminate()
        sink.wait()

    bare_rps, bare_p50, bare_p99 = figures["bare"].summary()
    inst_rps, inst_p50, inst_p99 = figures["instrumented"].summary()
    ratio = inst_rps / bare_rps
    added_p99 = inst_p99 - bare_p99
    print()
    print(
        f"loader={loader} concurrency={args.concurrency} duration={args.duration}s "
        f"rounds={args.rounds} endpoint={ENDPOINT} (medians over rounds)"
    )
    print(f"{'mode':>12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'bare':>12} {bare_rps:10.1f} {bare_p50:8.2f} {bare_p99:8.2f}")
    print(f"{'instrumented':>12} {inst_rps:10.1f} {inst_p50:8.2f} {inst_p99:8.2f}")
    print(
        f"throughput ratio instrumented/bare: {ratio:.3f} (target >= 0.70: "
        f"{'met' if ratio >= 0.70 else 'NOT met'})"
    )
    print(
        f"p99 added: {added_p99:+.2f} ms (target <= 2 ms: "
        f"{'met' if added_p99 <= 2.0 else 'NOT met'})"
    )
    total_errors = figures["bare"].errors + figures["instrumented"].errors
    if total_errors:
        print(f"WARNING: {total_errors} non-200 responses during the run")


if __name__ == "__main__":
    main()
