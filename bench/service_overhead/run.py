"""Telemetry overhead of the sample service, per request, against a careful baseline.

    python bench/service_overhead/run.py [--endpoint /api/v1/items/1] [--duration 10]
        [--rounds 3] [--modes minimal,bare,careful,instrumented] [--loader auto|wrk|python]
        [--batch-size N] [--switch-interval SECONDS] [--profile DIR]

Modes, each one uvicorn process serving the same database (a user and 20 items):
- minimal: a minimal FastAPI app with the same paths and fixed data (minimal_app.py), the
  floor of what FastAPI and uvicorn cost;
- bare: the service with metrics, access log and tracing off;
- careful: the bare service wrapped in careful hand-rolled telemetry (careful_app.py): one
  pure-ASGI middleware, one server span, one histogram, one JSON line, SDK export defaults;
- instrumented: the service with all its telemetry on: metrics, the JSON access record
  (stdout and LOG_FILE) and every request traced, spans exported over OTLP/HTTP.
Spans go to a local sink process (otlp_sink.py). A second process (wrk, or load.py) loads
each mode with --concurrency connections for throughput, then with one connection for
unloaded latency. Modes alternate within each round (the order rotates every round), so
every figure is compared with figures of the same invocation.

Added microseconds per request of a mode against bare = 1e6/RPS(mode) - 1e6/RPS(bare),
computed per round (same round, same machine load) and reported as the median and range
over rounds; beside it the added CPU time per request, the server process's user+system
time (all threads) over the saturated phase divided by the requests served, which other
work on a shared machine disturbs far less than throughput. Targets: instrumented adds
no more than careful; p99 added at one connection (instrumented - bare) <= 2 ms. The
1-minute load average is printed beside each measurement: the machine is shared.

--batch-size sets OTEL_BSP_MAX_EXPORT_BATCH_SIZE of the instrumented mode and
--switch-interval the GIL switch interval (sys.setswitchinterval) of every server, so
their effect is measured the same way. Other OTEL_* variables (sampler) pass through.

--profile DIR records each mode's saturated phase of round 1 with py-spy (raw collapsed
stacks, DIR/<mode>.txt, thread ids included; summarise with profile_summary.py). py-spy
pauses the process while sampling, so a profiled invocation's figures are not compared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
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
MODES = ("minimal", "bare", "careful", "instrumented")


@dataclass
class Run:
    """One load phase: requests a second, latency percentiles, non-200 answers, requests
    served, the server's CPU time per request (all its threads), load average."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us: float = 0.0
    load: float = 0.0


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
            sum(r.requests for r in runs),
            statistics.median(r.cpu_us for r in runs),
        )

    def loaded_median(self) -> Run:
        return self._median(self.loaded)

    def unloaded_median(self) -> Run:
        return self._median(self.unloaded)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    mode: str, workdir: Path, port: int, sink_port: int, batch_size: int | None
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
        JWT_SECRET=secrets.token_urlsafe(32),
    )
    if mode == "instrumented":
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
    if mode == "careful":
        env.update(
            CAREFUL_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
            CAREFUL_LOG_FILE=str(workdir / "careful.log"),
        )
    return env


def _command(mode: str, switch_interval: float | None) -> list[str]:
    if mode == "minimal":
        target = f"runpy.run_path({str(HERE / 'minimal_app.py')!r}, run_name='__main__')"
    elif mode == "careful":
        target = f"runpy.run_path({str(HERE / 'careful_app.py')!r}, run_name='__main__')"
    else:
        target = "runpy.run_module('sample_service', run_name='__main__', alter_sys=True)"
    interval = f"sys.setswitchinterval({switch_interval}); " if switch_interval else ""
    return [sys.executable, "-c", f"import runpy, sys; {interval}{target}"]


def _seed(base: str, items: int) -> None:
    """A user and `items` items, so the measured endpoints serve real rows."""
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


def _search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    match = re.search(pattern, text, flags)
    if match is None:
        raise SystemExit(f"wrk printed no {pattern!r}:\n{text}")
    return match


def _wrk(url: str, concurrency: int, duration: float) -> Run:
    out = subprocess.run(
        [*_pin(1), "wrk", "-t1", f"-c{concurrency}", f"-d{int(duration)}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p: str) -> float:
        value, unit = _search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * _WRK_UNITS[unit]

    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    requests = int(_search(r"(\d+) requests in", out).group(1))
    return Run(rps, percentile("50"), percentile("99"), errors, requests)


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
    return Run(
        result["requests"] / result["seconds"], p50, p99, result["errors"], result["requests"]
    )


def _profiled(pid: int, output: Path, duration: float) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            py_spy,
            "record",
            f"--pid={pid}",
            "--format=raw",
            "--threads",
            "--rate=200",
            f"--duration={int(duration)}",
            f"--output={output}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass
class Bench:
    endpoint: str
    loader: str
    concurrency: int
    duration: float
    sink_port: int
    batch_size: int | None
    profile_dir: Path | None
    switch_interval: float | None

    def measure(self, mode: str, profile: bool) -> tuple[Run, Run]:
        """Throughput with `concurrency` connections, then latency with one connection."""
        with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
            workdir = Path(tmp)
            port = _free_port()
            env = _service_env(mode, workdir, port, self.sink_port, self.batch_size)
            server = subprocess.Popen(
                [*_pin(0), *_command(mode, self.switch_interval)],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_ready(f"{base}/health/ready")
                if mode != "minimal":
                    _seed(base, items=20)
                load = _wrk if self.loader == "wrk" else _python_loader
                url = f"{base}{self.endpoint}"
                load(url, self.concurrency, 2)  # warm-up: first-use imports, caches
                profiler = None
                if profile and self.profile_dir is not None:
                    output = self.profile_dir / f"{mode}.txt"
                    profiler = _profiled(server.pid, output, self.duration)
                before, cpu_before = load_average(), cpu_seconds(server.pid)
                loaded = load(url, self.concurrency, self.duration)
                loaded.load = before
                loaded.cpu_us = (cpu_seconds(server.pid) - cpu_before) / loaded.requests * 1e6
                if profiler is not None:
                    profiler.wait(timeout=60)
                # Saturated, latency is only queueing (concurrency / throughput); the cost a
                # request pays for telemetry shows with one connection and no queue.
                before = load_average()
                unloaded = load(url, 1, self.duration / 2)
                unloaded.load = before
                return loaded, unloaded
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)


def _added_us(mode_rps: float, bare_rps: float) -> float:
    return 1e6 / mode_rps - 1e6 / bare_rps


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):+7.0f} ({min(values):+.0f} .. {max(values):+.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="/api/v1/items/1", help="path loaded in every mode")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, bare always")
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="OTEL_BSP_MAX_EXPORT_BATCH_SIZE of the instrumented mode (default: the service's)",
    )
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of round 1 here")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval() of every server process (default: Python's 0.005 s)",
    )
    args = parser.parse_args()
    # Stopped with SIGTERM, still stop the server, sink and load generator (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    modes = [m for m in MODES if m in {*args.modes.split(","), "bare"}]
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    sink_port = _free_port()
    # On the load generator's core: its work per export must not be taken from the server's.
    sink = subprocess.Popen(
        [*_pin(1), sys.executable, str(HERE / "otlp_sink.py"), f"--port={sink_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bench = Bench(
        args.endpoint,
        loader,
        args.concurrency,
        args.duration,
        sink_port,
        args.batch_size,
        args.profile,
        args.switch_interval,
    )
    figures = {mode: Figures() for mode in modes}
    start_load = load_average()
    try:
        for round_number in range(1, args.rounds + 1):
            shift = (round_number - 1) % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                loaded, unloaded = bench.measure(mode, profile=round_number == 1)
                figures[mode].loaded.append(loaded)
                figures[mode].unloaded.append(unloaded)
                print(
                    f"round {round_number} {mode:>12}: {loaded.rps:8.1f} req/s "
                    f"(p50 {loaded.p50_ms:6.2f} p99 {loaded.p99_ms:6.2f} ms, CPU "
                    f"{loaded.cpu_us:5.0f} us/req, load {loaded.load:.2f}) | one connection: "
                    f"p50 {unloaded.p50_ms:5.2f} ms p99 {unloaded.p99_ms:5.2f} ms "
                    f"(load {unloaded.load:.2f})",
                    flush=True,
                )
        _wait_ready(f"http://127.0.0.1:{sink_port}/stats")
        sink_stats = httpx.get(f"http://127.0.0.1:{sink_port}/stats").json()
    finally:
        sink.terminate()
        sink.wait()

    _report(args, loader, modes, figures, sink_stats, start_load)


def _report(
    args: argparse.Namespace,
    loader: str,
    modes: list[str],
    figures: dict[str, Figures],
    sink_stats: dict[str, int],
    start_load: float,
) -> None:
    print()
    batch = args.batch_size if args.batch_size is not None else "service default"
    interval = args.switch_interval or "default"
    print(
        f"loader={loader} endpoint={args.endpoint} rounds={args.rounds} "
        f"duration={args.duration}s batch size={batch} switch interval={interval} "
        f"(medians over rounds); "
        f"load average (1 min) {start_load:.2f} at start, {load_average():.2f} at end"
    )
    if args.profile is not None:
        print(f"PROFILED RUN (py-spy pauses the service): figures not comparable; {args.profile}")
    print(f"sink: {sink_stats['exports']} exports over {sink_stats['connections']} connections")
    print(
        f"{'':>12} | {args.concurrency} connections (saturated)            | 1 connection"
        f"        | vs bare, median (range over rounds)"
    )
    print(
        f"{'mode':>12} | {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us':>7} | "
        f"{'p50 ms':>7} {'p99 ms':>7} | ratio  added us (1e6/RPS)      added CPU us"
    )
    bare = figures["bare"]
    added: dict[str, float] = {}
    added_cpu: dict[str, float] = {}
    for mode in modes:
        many, one = figures[mode].loaded_median(), figures[mode].unloaded_median()
        rounds = list(zip(figures[mode].loaded, bare.loaded, strict=True))
        per_round = [_added_us(run.rps, base.rps) for run, base in rounds]
        per_round_cpu = [run.cpu_us - base.cpu_us for run, base in rounds]
        added[mode] = statistics.median(per_round)
        added_cpu[mode] = statistics.median(per_round_cpu)
        comparison = ""
        if mode != "bare":
            comparison = (
                f"| {many.rps / bare.loaded_median().rps:5.3f} {_spread(per_round)} "
                f"{_spread(per_round_cpu)}"
            )
        print(
            f"{mode:>12} | {many.rps:8.1f} {many.p50_ms:7.2f} {many.p99_ms:7.2f} "
            f"{many.cpu_us:7.0f} | {one.p50_ms:7.2f} {one.p99_ms:7.2f} {comparison}"
        )
    if "minimal" in figures:
        minimal = figures["minimal"].loaded_median()
        print(
            f"bare against minimal FastAPI: {1e6 / bare.loaded_median().rps:.0f} against "
            f"{1e6 / minimal.rps:.0f} us/request (1e6/RPS), "
            f"{bare.loaded_median().cpu_us:.0f} against {minimal.cpu_us:.0f} CPU us/request"
        )
    if "instrumented" in figures and "careful" in figures:
        for name, values in (("1e6/RPS", added), ("CPU", added_cpu)):
            verdict = "met" if values["instrumented"] <= values["careful"] else "NOT met"
            print(
                f"added per request ({name}): service {values['instrumented']:+.0f} us, careful "
                f"baseline {values['careful']:+.0f} us (target service <= careful: {verdict})"
            )
    if "instrumented" in figures:
        added_p99 = figures["instrumented"].unloaded_median().p99_ms - bare.unloaded_median().p99_ms
        verdict = "met" if added_p99 <= 2.0 else "NOT met"
        print(f"p99 added, one connection: {added_p99:+.2f} ms (target <= 2 ms: {verdict})")
    errors = sum(r.errors for f in figures.values() for r in (*f.loaded, *f.unloaded))
    if errors:
        print(f"WARNING: {errors} non-200 responses during the run")


if __name__ == "__main__":
    main()
