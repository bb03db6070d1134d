"""The per-request cost of each benchmark mode without sockets: the ASGI app called in a
loop, in its own process, with spans exported to the local sink (otlp_sink.py) over
OTLP/HTTP as run.py does. No server and no load generator share the cores, so it is far
less noisy than run.py and shows the Python cost alone; run.py's figures include
uvicorn, the kernel and the load generator.

    python bench/service_overhead/in_process.py [--rounds 7] [--requests 3000]
        [--modes minimal,bare,careful,instrumented] [--path /api/v1/items/1]

Each round runs every mode once (a fresh process each), `--requests` requests after a
warm-up; per mode it prints the process's CPU time (all threads) per request, the
fastest round and the median, and the added microseconds against bare. CPU time rather
than wall time: other work on a shared machine delays a process but barely changes the
CPU it uses. Everything a request causes is in the figure, the span encoding and export
on the exporter thread and the log writer's writes too. The loop sends one request after
the other, like run.py's one connection: each request's wall time gives p50 and p99, and
the p99 a mode adds to bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("minimal", "bare", "careful", "instrumented")


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _run(app: Any, path: str, requests: int) -> tuple[float, float, float]:
    """Start the app's lifespan as a server would (the service freezes its startup heap
    there, which decides what garbage collections cost), then time the requests."""
    lifespan = asyncio.Queue[dict[str, Any]]()
    answers = asyncio.Queue[dict[str, Any]]()
    task = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan.get, answers.put
        )
    )
    await lifespan.put({"type": "lifespan.startup"})
    started = await answers.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"lifespan startup failed: {started}")
    try:
        return await _requests(app, path, requests)
    finally:
        await lifespan.put({"type": "lifespan.shutdown"})
        await answers.get()
        await task


async def _requests(app: Any, path: str, requests: int) -> tuple[float, float, float]:
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(200):  # warm-up: first-use imports, caches
        await app(_scope(path), receive, send)
    latencies = []
    start = time.process_time()
    for _ in range(requests):
        began = time.perf_counter()
        await app(_scope(path), receive, send)
        latencies.append(time.perf_counter() - began)
    elapsed = time.process_time() - start
    if statuses != {200}:
        raise SystemExit(f"unexpected statuses {statuses}")
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return elapsed / requests * 1e6, p50 * 1e3, p99 * 1e3


def _child(mode: str, path: str, requests: int, workdir: Path) -> None:
    """One mode, in this (fresh) process; prints microseconds per request."""
    app: Any
    if mode == "minimal":
        sys.path.insert(0, str(HERE.parents[1]))
        from bench.service_overhead.minimal_app import app
    else:
        from sample_service.core.log_config import configure_logging
        from sample_service.core.settings import get_settings

        configure_logging(get_settings())
        if mode == "careful":
            sys.path.insert(0, str(HERE.parents[1]))
            from bench.service_overhead.careful_app import build

            app = build()
        else:
            from sample_service.app_factory import create_app

            app = create_app(get_settings())
    cpu_us, p50_ms, p99_ms = asyncio.run(_run(app, path, requests))
    # Not stdout: the modes' own log lines go there, from other threads.
    result = {"us": cpu_us, "p50_ms": p50_ms, "p99_ms": p99_ms}
    (workdir / f"{mode}.json").write_text(json.dumps(result))


def _database(workdir: Path) -> str:
    from sample_service.db.migrate import upgrade_to_head

    url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    upgrade_to_head(url)
    with sqlite3.connect(workdir / "bench.db") as db:
        db.execute(
            "INSERT INTO users (email, full_name, password_hash, created_at, updated_at) "
            "VALUES ('bench@example.com', 'B', 'x', '2026-01-01', '2026-01-01')"
        )
        for number in range(20):
            db.execute(
                "INSERT INTO items (name, description, price, quantity, owner_id, created_at,"
                " updated_at) VALUES (?, '', 9.99, ?, 1, '2026-01-01', '2026-01-01')",
                (f"item {number}", number),
            )
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--path", default="/api/v1/items/1")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path, args.requests, Path.cwd())
        return
    modes = [m for m in MODES if m in {*args.modes.split(","), "bare"}]
    workdir = Path(tempfile.mkdtemp(prefix="bench-in-process-"))
    sink_port = _free_port()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "otlp_sink.py"), f"--port={sink_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OTEL_EXPORTER_", "OTEL_SDK_", "PROMETHEUS_", "LOG_"))
        }
        env.update(
            DATABASE_URL=_database(workdir),
            JWT_SECRET=secrets.token_urlsafe(32),
            RATE_LIMIT_PER_MINUTE="1000000000",
        )
        results: dict[str, list[float]] = {mode: [] for mode in modes}
        tails: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
        loads = []
        for round_number in range(args.rounds):
            shift = round_number % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                mode_env = dict(env)
                if mode == "instrumented":
                    mode_env.update(
                        LOG_FILE=str(workdir / "service.log"),
                        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
                    )
                else:
                    mode_env.update(
                        METRICS_ENABLED="false", ACCESS_LOG_ENABLED="false", LOG_LEVEL="warning"
                    )
                if mode == "careful":
                    mode_env.update(
                        CAREFUL_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
                        CAREFUL_LOG_FILE=str(workdir / "careful.log"),
                    )
                loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        f"--child={mode}",
                        f"--path={args.path}",
                        f"--requests={args.requests}",
                    ],
                    env=mode_env,
                    cwd=workdir,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                result = json.loads((workdir / f"{mode}.json").read_text())
                results[mode].append(result["us"])
                tails[mode].append((result["p50_ms"], result["p99_ms"]))
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"path={args.path} rounds={args.rounds} requests={args.requests}; load average "
        f"(1 min) {min(loads):.2f}..{max(loads):.2f} over the run"
    )
    print(
        f"{'mode':>12} | CPU us/request fastest  median | added vs bare, fastest  median "
        f"| latency p50 ms  p99 ms (median of rounds)  p99 added"
    )
    bare = results["bare"]
    bare_p99 = statistics.median(p99 for _, p99 in tails["bare"])
    for mode in modes:
        times = results[mode]
        p50 = statistics.median(p50 for p50, _ in tails[mode])
        p99 = statistics.median(p99 for _, p99 in tails[mode])
        line = f"{mode:>12} | {min(times):21.1f} {statistics.median(times):7.1f}"
        added = ""
        if mode != "bare":
            line += (
                f" | {min(times) - min(bare):+21.1f} "
                f"{statistics.median(times) - statistics.median(bare):+7.1f}"
            )
            added = f"{p99 - bare_p99:+.2f} ms"
        else:
            line += " | " + " " * 29
        print(f"{line} | {p50:14.3f} {p99:7.3f} {added:>29}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
