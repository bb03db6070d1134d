"""Takes the objects alive at the end of startup out of the cyclic garbage collector's scans.

Startup leaves ~160,000 long-lived objects (FastAPI routes and Pydantic models,
SQLAlchemy, OpenTelemetry, the imported modules). Every full (generation 2) collection
walks all of them while holding the GIL; with every request traced, the spans waiting in
the export queue get promoted quickly enough to trigger one every few seconds, and each
one stopped the service for 80-95 ms (measured with gc.callbacks on the benchmark of
bench/service_overhead; figures in README.md). Frozen, they are never scanned again and a
full collection takes 1-2 ms. This is what `gc.freeze()` is for (the Python docs and
Instagram's write-up do the same, before forking for copy-on-write, too).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect the startup garbage, then freeze what is left; returns how many objects."""
    gc.collect()  # garbage made while starting must not be frozen and kept forever
    gc.freeze()
    return gc.get_freeze_count()
