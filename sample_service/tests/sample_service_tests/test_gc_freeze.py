"""The heap alive after startup is frozen, so full GC collections stop scanning it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from sample_service.core.gc_freeze import freeze_startup_heap


@pytest.mark.parametrize("instrumented", [False, True], ids=["bare", "instrumented"])
def test_startup_freezes_the_heap_with_or_without_telemetry(
    instrumented: bool,
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    make_client(
        tracer_provider=tracer_provider if instrumented else None,
        metrics_enabled=instrumented,
        access_log_enabled=instrumented,
    )
    # The service's own objects are among the frozen ones, not just the interpreter's.
    assert gc.get_freeze_count() > 10_000


class _Node:
    partner: _Node


def test_startup_garbage_is_collected_not_frozen() -> None:
    gc.unfreeze()
    first, second = _Node(), _Node()
    first.partner, second.partner = second, first
    dead = weakref.ref(first)
    del first, second  # an unreachable cycle: only the cyclic collector frees it

    # Not compared with gc.get_freeze_count() afterwards: frozen objects that other threads
    # of the test process release in between leave the permanent generation.
    assert freeze_startup_heap() > 0
    assert dead() is None
