"""Telemetry overhead of the sample service: the same app bare and fully instrumented.

    python bench/service_overhead/run.py [--duration 10] [--rounds 3] [--loader auto|wrk|python]
        [--batch-size N]

Bare: metrics, access log and tracing off. Instrumented: Prometheus metrics, one JSON
access record per request (stdout and LOG_FILE), and OpenTelemetry traces (FastAPI,
SQLAlchemy) exported over OTLP/HTTP to a local sink process. Each mode runs as one
uvicorn process serving GET /api/v1/items (a page of 20 items, one SQLite query); a second
process (wrk, or load.py when wrk is absent) loads it over loopback. Modes alternate
for --rounds rounds, and the figures of one invocation are compared with each other.
--batch-size sets OTEL_BSP_MAX_EXPORT_BATCH_SIZE for the instrumented mode (default: the
service's own). At the end the sink reports how many exports it took over how many
connections (one a service process when the exporter keeps its connection alive).
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
class Run:
    """One load phase: requests a second, latency percentiles, non-200 answers."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Figures:
    """All rounds of one mode: saturated throughput runs and one-connection latency runs."""

    loaded: list[Run] = field(default_factory=list)
    unloaded: list[Run] = field(default_factory=list)

    @staticmethod
    def _median(runs: list[Run]) -> Run:
        return Run(
            statistics.median(r.rps for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            sum(r.errors for r in runs),
        )

    def loaded_median(self) -> Run:
        return self._median(self.loaded)

    def unloaded_median(self) -> Run:
        return self._median(self.unloaded)


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


def _service_env(
    workdir: Path, port: int, instrumented: bool, sink_port: int, batch_size: int | None
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Other OTEL_* variables (sampler, batch processor) pass through to be measured.
        if not k.startswith(
            ("OTEL_EXPORTER_", "OTEL_SDK_", "PROMETHEUS_", "SENTRY_", "LOG_", "DATABASE_")
        )
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
        if batch_size is not None:
            env["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = str(batch_size)
    else:
        env.update(METRICS_ENABLED="false", ACCESS_LOG_ENABLED="false", LOG_LEVEL="warning")
    return env


def _seed(base: str, items: int) -> None:
    """A user and `items` items, so the measured page carries real rows."""
    user = {"email": "bench@example.com", "full_name": "Bench", "password": "bench-password"}
    httpx.post(f"{base}/api/v1/users", json=user).raise_for_status()
    login = {"email": user["email"], "password": user["password"]}
    token = httpx.post(f"{base}/api/v1/auth/token", json=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for number in range(items):
        item = {"name": f"item {number}", "price": "9.99", "quantity": number}
        httpx.post(f"{base}/api/v1/items", json=item, headers=headers).raise_for_status()


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


def _wrk(url: str, concurrency: int, duration: float) -> Run:
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
    errors = int(errors_match.group(1)) if errors_match else 0
    return Run(rps, percentile("50"), percentile("99"), errors)


def _python_loader(url: str, concurrency: int, duration: float) -> Run:
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
    return Run(result["requests"] / result["seconds"], p50, p99, result["errors"])


def _measure(
    instrumented: bool,
    loader: str,
    concurrency: int,
    duration: float,
    sink_port: int,
    batch_size: int | None,
) -> tuple[Run, Run]:
    """Throughput with `concurrency` connections, then latency with one connection."""
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        env = _service_env(workdir, port, instrumented, sink_port, batch_size)
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
            _seed(base, items=20)
            load = _wrk if loader == "wrk" else _python_loader
            load(f"{base}{ENDPOINT}", concurrency, 2)  # warm-up: first-use imports and caches
            loaded = load(f"{base}{ENDPOINT}", concurrency, duration)
            # Saturated, latency is only queueing (concurrency / throughput); the cost a
            # request pays for telemetry shows with one connection and no queue.
            unloaded = load(f"{base}{ENDPOINT}", 1, duration / 2)
            return loaded, unloaded
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="bare/instrumented pairs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="OTEL_BSP_MAX_EXPORT_BATCH_SIZE of the instrumented mode (default: the service's)",
    )
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
                loaded, unloaded = _measure(
                    mode == "instrumented",
                    loader,
                    args.concurrency,
                    args.duration,
                    sink_port,
                    args.batch_size,
                )
                figures[mode].loaded.append(loaded)
                figures[mode].unloaded.append(unloaded)
                print(
                    f"round {round_number} {mode:>12}: {loaded.rps:8.1f} req/s "
                    f"(p50 {loaded.p50_ms:6.2f} p99 {loaded.p99_ms:6.2f} ms) | one connection: "
                    f"p50 {unloaded.p50_ms:5.2f} ms p99 {unloaded.p99_ms:5.2f} ms",
                    flush=True,
                )
        _wait_ready(f"http://127.0.0.1:{sink_port}/stats")
        sink_stats = httpx.get(f"http://127.0.0.1:{sink_port}/stats").json()
    finally:
        sink.terminate()
        sink.wait()

    bare, inst = figures["bare"].loaded_median(), figures["instrumented"].loaded_median()
    bare_one, inst_one = (
        figures["bare"].unloaded_median(),
        figures["instrumented"].unloaded_median(),
    )
    ratio = inst.rps / bare.rps
    added_p99 = inst_one.p99_ms - bare_one.p99_ms
    print()
    batch = args.batch_size if args.batch_size is not None else "service default"
    print(
        f"loader={loader} endpoint={ENDPOINT} rounds={args.rounds} duration={args.duration}s "
        f"batch size={batch} (medians over rounds)"
    )
    print(
        f"sink: {sink_stats['exports']} exports over {sink_stats['connections']} connections "
        f"(one is this query; {args.rounds} instrumented service processes)"
    )
    print(f"{'':>12} | {args.concurrency} connections (saturated)  | 1 connection (unloaded)")
    print(f"{'mode':>12} | {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} | {'p50 ms':>8} {'p99 ms':>8}")
    for name, many, one in (("bare", bare, bare_one), ("instrumented", inst, inst_one)):
        print(
            f"{name:>12} | {many.rps:8.1f} {many.p50_ms:8.2f} {many.p99_ms:8.2f} | "
            f"{one.p50_ms:8.2f} {one.p99_ms:8.2f}"
        )
    verdict = "met" if ratio >= 0.70 else "NOT met"
    print(f"throughput ratio instrumented/bare: {ratio:.3f} (target >= 0.70: {verdict})")
    verdict = "met" if added_p99 <= 2.0 else "NOT met"
    print(f"p99 added, one connection: {added_p99:+.2f} ms (target <= 2 ms: {verdict})")
    errors = bare.errors + inst.errors + bare_one.errors + inst_one.errors
    if errors:
        print(f"WARNING: {errors} non-200 responses during the run")


if __name__ == "__main__":
    main()
