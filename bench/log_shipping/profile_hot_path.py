"""cProfile of the sidecar's hot path, in process, against the benchmark's sink.

    .venv/bin/python bench/log_shipping/profile_hot_path.py [--lines N]

Prints the 25 most expensive functions by own time; used to decide what to optimise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run
from sidecar.app import Sidecar

from sidecar.config import SidecarConfig


async def ship(config: SidecarConfig, lines: int) -> None:
    sidecar = Sidecar(config)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    while True:
        await asyncio.sleep(0.05)
        value = sidecar.registry.get_sample_value(
            "sidecar_log_lines_shipped_total", {"service_name": "bench", "source": "bench"}
        )
        if value is not None and value >= lines:
            break
    stop.set()
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "app.log"
        run.write_lines(log, args.lines)
        sink_port, port = run.free_port(), run.free_port()
        sink = subprocess.Popen(
            [sys.executable, "-c", f"import run; run.sink({sink_port})"], cwd=Path(__file__).parent
        )
        config = SidecarConfig(
            server={"port": port},
            loki={"url": f"http://127.0.0.1:{sink_port}/loki/api/v1/push"},
            shipping={"positions_file": str(tmp / "positions.json")},
            sources=[{"name": "bench", "service_name": "bench", "paths": [str(log)]}],
        )
        profiler = cProfile.Profile()
        try:
            profiler.enable()
            asyncio.run(ship(config, args.lines))
            profiler.disable()
        finally:
            sink.kill()
            sink.wait()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
