"""cProfile of the sidecar's shipping hot path, in process, against the benchmark's sink.

    .venv/bin/python bench/log_shipping/profile_hot_path.py [--lines N] [--url PUSH_URL]

Runs the shipping service's loop (what the shipping process runs on its shipping thread) on this
thread under cProfile, so every stage is in the profile; prints the 25 most expensive
functions by own time. --url pushes to that Loki instead of a sink.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.metrics import new_registry
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.service import ShippingService, tune_gc

from bench.log_shipping import run
from sidecar.config import SidecarConfig


async def ship(config: SidecarConfig, lines: int) -> None:
    registry, _ = new_registry()
    service = ShippingService(
        config.loki, config.shipping, config.sources, ShippingMetrics(registry), lambda _: None
    )
    task = asyncio.create_task(service._main())
    while True:
        await asyncio.sleep(0.05)
        value = registry.get_sample_value(
            "sidecar_log_lines_shipped_total", {"service_name": "bench", "source": "bench"}
        )
        if value is not None and value >= lines:
            break
    assert service._stop is not None
    service._stop.set()
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--url", default="", help="a Loki push URL instead of the sink")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "app.log"
        run.write_lines(log, args.lines)
        sink_port, port = run.free_port(), run.free_port()
        sink = subprocess.Popen(
            [sys.executable, "-c", f"import run; run.sink({sink_port})"], cwd=Path(__file__).parent
        )
        config = SidecarConfig.model_validate(
            {
                "server": {"port": port},
                "loki": {"url": args.url or f"http://127.0.0.1:{sink_port}/loki/api/v1/push"},
                "shipping": {"positions_file": str(tmp / "positions.json")},
                "sources": [{"name": "bench", "service_name": "bench", "paths": [str(log)]}],
            }
        )
        tune_gc()
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
