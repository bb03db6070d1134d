"""A small closed-loop HTTP load generator, run as its own process by run.py when wrk is
not installed: CONCURRENCY keep-alive connections, each sending GETs back to back for
DURATION seconds. Prints one JSON object: requests, errors, seconds, latencies_ms (sorted)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx


async def _worker(client: httpx.AsyncClient, url: str, deadline: float, out: list[float]) -> int:
    errors = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        response = await client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            errors += 1
    return errors


async def _run(url: str, concurrency: int, duration: float) -> dict[str, object]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        start = time.perf_counter()
        deadline = start + duration
        errors = await asyncio.gather(
            *(_worker(client, url, deadline, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": sum(errors),
        "seconds": elapsed,
        "latencies_ms": sorted(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(_run(args.url, args.concurrency, args.duration))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
