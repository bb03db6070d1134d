"""The running sidecar follows its services file (watch.py, Sidecar.apply, reload.py).

A changed file is validated, then applied without a restart: added services are
shipped and probed, removed ones leave /health and /metrics, unchanged checks keep
their state, and the lines of sources that stay are neither lost nor sent twice while
shipping restarts. A file that cannot be used changes nothing and is reported in a
metric, in /health/ready and in the log, naming the service and the field.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecar.app import Sidecar
from sidecar.services.loader import ServicesFileError
from sidecar.services.watch import LAST_GOOD_NAME
from sidecar.shipping.supervisor import ShippingSupervisor

from tests.support.loki_double import LokiDouble

from .conftest import ServicesHarness

OK = "sidecar_services_file_last_reload_successful"


def _service(name: str, logs: Path, port: int) -> dict[str, Any]:
    logs.mkdir(parents=True, exist_ok=True)
    return {
        "name": name,
        "logs": [{"paths": [f"{logs}/*.log"]}],
        "health": [
            {
                "name": "port",
                "url": f"tcp://127.0.0.1:{port}",
                "interval_seconds": 0.2,
                "timeout_seconds": 0.2,
            }
        ],
    }


def _line(service: str, n: int) -> str:
    return json.dumps({"level": "info", "message": f"{service} line {n}"}) + "\n"


def _shipped(loki: LokiDouble, service: str) -> list[str]:
    return [line for line in loki.lines() if f'"{service} line ' in line]


def _value(sidecar: Sidecar, name: str, **labels: str) -> float | None:
    return sidecar.registry.get_sample_value(name, labels)


async def _ready(sidecar: Sidecar) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{sidecar.config.server.port}/health/ready"
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    return response.status_code, response.json()


async def test_an_added_service_is_shipped_and_probed_and_the_others_lose_nothing(
    services: ServicesHarness, loki: LokiDouble, tmp_path: Path
) -> None:
    a = _service("a", tmp_path / "a", loki.port)
    services.write([a])
    async with services.running(services.config()) as sidecar:
        assert [s.name for s in sidecar.config.sources] == ["a"]
        kept = sidecar.health.state("a-port")
        written = 0

        async def write_a(count: int) -> None:
            nonlocal written
            with (tmp_path / "a" / "app.log").open("a") as log:
                for _ in range(count):
                    log.write(_line("a", written))
                    log.flush()
                    written += 1
                    await asyncio.sleep(0.002)

        await write_a(50)
        await services.eventually(lambda: len(_shipped(loki, "a")) == 50, what="a shipped")

        # While a's lines keep coming, service b is added (a new file renamed over the old).
        writer = asyncio.create_task(write_a(500))
        b = _service("b", tmp_path / "b", loki.port)
        (tmp_path / "b" / "app.log").write_text("".join(_line("b", n) for n in range(20)))
        services.write([a, b])
        await services.eventually(lambda: len(_shipped(loki, "b")) == 20, what="b shipped")
        await writer

        assert [s.name for s in sidecar.config.sources] == ["a", "b"]
        await services.eventually(
            lambda: sidecar.health.state("b-port").last_run, what="b's check ran"
        )
        assert set(json.loads(sidecar.health.report()[1])["checks"]) == {"a-port", "b-port"}
        # a's check went on as it was: the same state, not a fresh one.
        assert sidecar.health.state("a-port") is kept
        # Every line of a, shipped once: shipping restarted from its checkpoint.
        await services.eventually(lambda: len(_shipped(loki, "a")) == written, what="all of a")
        assert written == 550
        assert sorted(_shipped(loki, "a")) == sorted(_line("a", n)[:-1] for n in range(written))
        assert loki.collapsed == 0, "lines were sent twice"
        assert _value(sidecar, OK, service_name="sidecar") == 1


async def test_a_bad_edit_keeps_the_last_good_config_and_says_why(
    services: ServicesHarness,
    loki: LokiDouble,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = _service("a", tmp_path / "a", loki.port)
    services.write([a])
    caplog.set_level(logging.INFO, logger="sidecar.services.watch")
    async with services.running(services.config()) as sidecar:
        assert _value(sidecar, OK, service_name="sidecar") == 1
        assert (await _ready(sidecar))[1]["status"] == "pass"

        # In place, as an editor that rewrites the file does: a typo in one value.
        bad = dict(a, health=[dict(a["health"][0], interval_seconds="fast")])
        services.write([a, bad | {"name": "b"}], replace=False)
        await services.eventually(lambda: sidecar.services.error, what="the error reported")
        expected = "services[1] (b): health[0].interval_seconds: Input should be a valid number"
        assert expected in sidecar.services.error
        assert _value(sidecar, OK, service_name="sidecar") == 0
        status, body = await _ready(sidecar)
        assert (status, body["status"]) == (200, "warn")
        (entry,) = body["checks"]["config:services-file"]
        assert entry["status"] == "warn"
        assert expected in entry["output"]
        logged = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(logged) == 1
        assert expected in logged[0].error  # type: ignore[attr-defined]

        # The last good config runs on: a is shipped and probed, b is not there.
        (tmp_path / "a" / "app.log").write_text("".join(_line("a", n) for n in range(10)))
        await services.eventually(lambda: len(_shipped(loki, "a")) == 10, what="a shipped")
        assert [s.name for s in sidecar.config.sources] == ["a"]
        assert [c.name for c in sidecar.config.health.checks] == ["a-port"]

        # A deleted file is reported too, and changes nothing either.
        services.services_path.unlink()
        await services.eventually(
            lambda: "cannot read" in (sidecar.services.error or ""), what="missing file"
        )
        assert [s.name for s in sidecar.config.sources] == ["a"]

        # Fixed: applied, and the report clears.
        b = _service("b", tmp_path / "b", loki.port)
        services.write([a, b])
        await services.eventually(lambda: sidecar.services.error is None, what="error cleared")
        assert [s.name for s in sidecar.config.sources] == ["a", "b"]
        assert _value(sidecar, OK, service_name="sidecar") == 1
        assert (await _ready(sidecar))[1]["status"] == "pass"


async def test_a_removed_service_leaves_no_series_behind(
    services: ServicesHarness, loki: LokiDouble, tmp_path: Path
) -> None:
    a = _service("a", tmp_path / "a", loki.port)
    b = _service("b", tmp_path / "b", loki.port)
    (tmp_path / "a" / "app.log").write_text("".join(_line("a", n) for n in range(5)))
    services.write([a, b])
    async with services.running(services.config()) as sidecar:
        await services.eventually(lambda: len(_shipped(loki, "a")) == 5, what="a shipped")
        await services.eventually(
            lambda: sidecar.health.state("b-port").last_run, what="b's check ran"
        )
        # b has lines Loki has not taken yet: a backlog that must not outlive b.
        loki.fail(500)
        (tmp_path / "b" / "app.log").write_text("".join(_line("b", n) for n in range(5)))
        backlog = "sidecar_log_backlog_bytes"
        await services.eventually(
            lambda: (_value(sidecar, backlog, service_name="b", source="b") or 0) > 0,
            what="b's backlog",
        )
        services.write([a])
        await services.eventually(lambda: len(sidecar.config.sources) == 1, what="b removed")
        loki.fail(None)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{sidecar.config.server.port}/metrics")
        text = response.text
        assert 'service_name="b"' not in text
        assert _value(sidecar, "sidecar_log_lines_read_total", service_name="a", source="a") == 5
        assert set(json.loads(sidecar.health.report()[1])["checks"]) == {"a-port"}


async def test_at_start_an_unusable_file_fails_unless_a_last_good_copy_exists(
    services: ServicesHarness, loki: LokiDouble, tmp_path: Path
) -> None:
    a = _service("a", tmp_path / "a", loki.port)
    services.write_text("services:\n  - {name: a, logs: [{paths: [relative.log]}]}\n")
    with pytest.raises(ServicesFileError) as caught:
        Sidecar(services.config())
    assert "services[0] (a): logs[0].paths[0]: 'relative.log' is not an absolute path" in str(
        caught.value
    )

    services.write([a])
    async with services.running(services.config()):
        pass
    assert (services.positions.parent / LAST_GOOD_NAME).is_file()

    services.write_text("services:\n  - {name: a, logs: [{paths: [relative.log]}]}\n")
    (tmp_path / "a" / "app.log").write_text(_line("a", 1))
    async with services.running(services.config()) as sidecar:
        assert sidecar.services is not None
        assert "'relative.log' is not an absolute path" in (sidecar.services.error or "")
        assert [s.name for s in sidecar.config.sources] == ["a"]
        assert _value(sidecar, OK, service_name="sidecar") == 0
        await services.eventually(lambda: _shipped(loki, "a"), what="a shipped")


async def test_from_no_sources_to_some_and_back(
    services: ServicesHarness, loki: LokiDouble, tmp_path: Path
) -> None:
    """Shipping starts when a first source arrives, stops when the last leaves (no shipping
    process then), and a source added back resumes where its checkpoint was."""
    services.write([])
    async with services.running(services.config()) as sidecar:
        assert sidecar.shipping is None
        a = _service("a", tmp_path / "a", loki.port)
        (tmp_path / "a" / "app.log").write_text("".join(_line("a", n) for n in range(10)))
        services.write([a])
        await services.eventually(lambda: len(_shipped(loki, "a")) == 10, what="a shipped")
        assert (await _ready(sidecar))[0] == 200

        services.write([])
        await services.eventually(lambda: not sidecar.config.sources, what="a removed")
        shipping = sidecar.shipping
        assert shipping is None or (
            isinstance(shipping, ShippingSupervisor) and shipping.pid is None
        )
        assert _value(sidecar, "sidecar_log_lines_read_total", service_name="a", source="a") is None
        assert (await _ready(sidecar))[0] == 200

        with (tmp_path / "a" / "app.log").open("a") as log:
            log.write("".join(_line("a", n) for n in range(10, 15)))
        services.write([a])
        await services.eventually(lambda: len(_shipped(loki, "a")) == 15, what="a again")
        assert sorted(_shipped(loki, "a")) == sorted(_line("a", n)[:-1] for n in range(15))
        assert loki.collapsed == 0, "lines were sent twice"
