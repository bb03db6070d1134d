"""Loki, Tempo and Collector configs: parsed and checked for what the stack relies on.

Loki and Tempo also run for real from these files (tests/loki/, tests/tempo/); the
Collector cannot run here. These tests read the configs as compose runs them (every
`${VAR:-default}` at its default) and hold them to the stack's needs: receivers on
0.0.0.0 inside the network, retention set, every path on the data volume, Loki's
limits at least what the sidecar sends, and the Collector's pipelines wired to Tempo,
to Prometheus's OTLP receiver and to Loki's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from sidecar.services.derive import with_services
from sidecar.services.loader import load as load_services

from sidecar.config import LokiConfig, ShippingConfig, load_config
from tests.compose.compose_cli import REPO

MIB = 1024 * 1024
_SIZE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMG]?i?B?)$", re.IGNORECASE)
_DEFAULTED = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}")


def _load(relative: str) -> dict[str, Any]:
    """The config as the program reads it in compose: -config.expand-env=true with none
    of the variables set, so each `${VAR:-default}` is its default."""
    text = (REPO / relative).read_text()
    return yaml.safe_load(_DEFAULTED.sub(lambda match: match.group(1), text))


def test_only_defaulted_variables_are_used() -> None:
    """A bare `$VAR` or `${VAR}` would expand to nothing in compose, where none is set."""
    for relative in ("loki/loki.yaml", "tempo/tempo.yaml"):
        text = _DEFAULTED.sub("", (REPO / relative).read_text())
        assert "$" not in text, relative


def loki_bytes(value: str | int) -> int:
    """A Loki size ("256KB", "8MB"): Loki's parser reads KB/MB as powers of 1024."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value.strip())
    if match is None:
        raise ValueError(f"not a Loki size: {value!r}")
    unit = match.group("unit").upper().replace("I", "").rstrip("B")
    return int(float(match.group("number")) * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit])


def _duration_hours(value: str) -> float:
    match = re.fullmatch(r"(\d+)([hd])", value)
    assert match, f"unexpected duration {value!r}"
    return int(match.group(1)) * (24 if match.group(2) == "d" else 1)


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", value)
    assert match, f"unexpected duration {value!r}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return int(match.group(1)) * scale


def _minutes(value: str) -> float:
    return _seconds(value) / 60


def _compose_sidecar_sources() -> int:
    """Sources the compose sidecar runs: its own (the inbox) and services.yaml's."""
    own = load_config(REPO / "compose" / "sidecar.yaml")
    return len(with_services(own, load_services(REPO / "services.yaml"), "services.yaml").sources)


@pytest.mark.parametrize(
    ("text", "expected"), [("256KB", 262144), ("8MB", 8 * MIB), ("1GiB", 1024 * MIB), (5, 5)]
)
def test_loki_sizes_are_read_as_loki_reads_them(text: str | int, expected: int) -> None:
    assert loki_bytes(text) == expected


class TestLoki:
    config = _load("loki/loki.yaml")

    def test_listens_on_all_interfaces_inside_the_network(self) -> None:
        assert self.config["server"]["http_listen_address"] == "0.0.0.0"
        assert self.config["server"]["http_listen_port"] == 3100

    def test_retention_is_set_and_enforced(self) -> None:
        assert _duration_hours(self.config["limits_config"]["retention_period"]) > 0
        assert self.config["compactor"]["retention_enabled"] is True

    def test_accepts_every_line_the_sidecar_ships(self) -> None:
        limits = self.config["limits_config"]
        assert loki_bytes(limits["max_line_size"]) >= ShippingConfig().max_line_bytes
        assert limits.get("max_line_size_truncate", False) is False

    def test_ingestion_rate_covers_what_the_sidecar_pushes(self) -> None:
        limits = self.config["limits_config"]
        loki = LokiConfig()
        # Steady state: one full batch per flush interval per source.
        steady = loki.batch_max_bytes / loki.batch_max_wait_seconds * _compose_sidecar_sources()
        # Catching up a backlog: every in-flight request carries a full batch at once.
        burst = loki.batch_max_bytes * loki.max_in_flight
        assert limits["ingestion_rate_mb"] * MIB >= steady
        assert limits["ingestion_burst_size_mb"] * MIB >= burst
        assert loki_bytes(limits["per_stream_rate_limit"]) >= steady
        assert loki_bytes(limits["per_stream_rate_limit_burst"]) >= burst

    def test_one_push_fits_a_request(self) -> None:
        max_message = self.config["server"]["grpc_server_max_recv_msg_size"]
        assert max_message >= LokiConfig().batch_max_bytes

    def test_trace_ids_can_travel_as_structured_metadata(self) -> None:
        assert self.config["limits_config"]["allow_structured_metadata"] is True
        assert self.config["schema_config"]["configs"][-1]["schema"] == "v13"

    def test_data_stays_on_the_volume(self) -> None:
        storage = self.config["storage_config"]
        paths = [
            self.config["common"]["path_prefix"],
            storage["object_store"]["filesystem"]["dir"],
            storage["tsdb_shipper"]["active_index_directory"],
            storage["tsdb_shipper"]["cache_location"],
            self.config["ingester"]["wal"]["dir"],
            self.config["compactor"]["working_directory"],
            self.config["ruler_storage"]["local"]["directory"],
        ]
        assert all(path == "/loki" or path.startswith("/loki/") for path in paths), paths

    def test_streams_are_not_sharded(self) -> None:
        # A re-sent line could land in another shard and show twice
        # (tests/loki/test_loki_config.py shows it with Loki's default).
        assert self.config["limits_config"]["shard_streams"]["enabled"] is False


class TestTempo:
    config = _load("tempo/tempo.yaml")

    def test_otlp_receivers_listen_on_all_interfaces(self) -> None:
        protocols = self.config["distributor"]["receivers"]["otlp"]["protocols"]
        assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
        assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
        assert self.config["server"]["http_listen_port"] == 3200

    def test_retention_is_the_same_on_scheduler_and_worker(self) -> None:
        scheduler = self.config["backend_scheduler"]["provider"]["compaction"]["compaction"]
        worker = self.config["backend_worker"]["compaction"]
        assert scheduler["block_retention"] == worker["block_retention"]
        assert _duration_hours(worker["block_retention"]) > 0

    def test_tempo_3_has_no_legacy_blocks(self) -> None:
        assert not {"ingester", "compactor", "ingester_client"} & set(self.config)

    def test_everything_is_written_under_the_volume(self) -> None:
        trace = self.config["storage"]["trace"]
        paths = [
            trace["wal"]["path"],
            trace["local"]["path"],
            self.config["live_store"]["wal"]["path"],
            self.config["live_store"]["shutdown_marker_dir"],
            self.config["backend_scheduler"]["local_work_path"],
            self.config["metrics_generator"]["storage"]["path"],
        ]
        assert all(path.startswith("/var/tempo/") for path in paths), paths

    def test_metrics_generator_writes_to_the_stack_prometheus(self) -> None:
        remote_write = self.config["metrics_generator"]["storage"]["remote_write"]
        assert [r["url"] for r in remote_write] == ["http://prometheus:9090/api/v1/write"]


class TestCollector:
    config = _load("otel-collector/config.yaml")

    def test_otlp_receivers_listen_on_all_interfaces(self) -> None:
        protocols = self.config["receivers"]["otlp"]["protocols"]
        assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
        assert protocols["http"]["endpoint"] == "0.0.0.0:4318"

    def test_every_pipeline_component_is_defined(self) -> None:
        for name, pipeline in self.config["service"]["pipelines"].items():
            for kind in ("receivers", "processors", "exporters"):
                for component in pipeline.get(kind, []):
                    assert component in self.config[kind], f"{name}: {kind} {component} undefined"
        for extension in self.config["service"].get("extensions", []):
            assert extension in self.config["extensions"]

    def test_traces_go_to_tempo(self) -> None:
        exporters = self.config["service"]["pipelines"]["traces"]["exporters"]
        endpoints = [self.config["exporters"][name]["endpoint"] for name in exporters]
        assert "tempo:4317" in endpoints

    def test_metrics_go_to_the_prometheus_otlp_receiver(self) -> None:
        exporters = self.config["service"]["pipelines"]["metrics"]["exporters"]
        endpoints = [self.config["exporters"][name].get("metrics_endpoint") for name in exporters]
        assert "http://prometheus:9090/api/v1/otlp/v1/metrics" in endpoints

    def test_logs_go_to_the_loki_otlp_endpoint(self) -> None:
        # tests/loki/test_otlp_logs.py shows what Loki makes of them.
        exporters = self.config["service"]["pipelines"]["logs"]["exporters"]
        endpoints = [self.config["exporters"][name].get("logs_endpoint") for name in exporters]
        assert endpoints == ["http://loki:3100/otlp/v1/logs"]

    def test_a_retried_metrics_push_fits_prometheus_out_of_order_window(self) -> None:
        retry = self.config["exporters"]["otlp_http/prometheus"]["retry_on_failure"]
        window = _load("prometheus/prometheus.yml")["storage"]["tsdb"]["out_of_order_time_window"]
        assert _minutes(retry["max_elapsed_time"]) < _minutes(window)

    def test_the_sidecar_probes_its_health_check_extension_without_paging(self) -> None:
        port = self.config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
        # The sidecar's checks of the sample service come from services.yaml.
        (service,) = _load("services.yaml")["services"]
        (check,) = [c for c in service["health"] if "otel-collector" in c["url"]]
        assert check["url"] == f"http://otel-collector:{port}/"
        assert check["critical"] is False

    def test_healthcheck_validates_the_config_at_most_every_30_seconds(self) -> None:
        # Each run starts a full otelcol-contrib inside the container's memory limit.
        healthcheck = _load("docker-compose.yml")["services"]["otel-collector"]["healthcheck"]
        assert "validate" in healthcheck["test"]
        assert _seconds(healthcheck["interval"]) >= 30

    def test_memory_limiter_runs_first(self) -> None:
        for pipeline in self.config["service"]["pipelines"].values():
            assert pipeline["processors"][0] == "memory_limiter"
