"""The shipping process's series as the main process serves them (child_series.py)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from sidecar.shipping.child_series import CurrentSeries
from sidecar.shipping.config import SourceConfig


def _source(name: str, service: str, *, access_log: bool = False) -> SourceConfig:
    extra = {"access_log": {"format": "combined"}} if access_log else {}
    return SourceConfig(name=name, service_name=service, paths=["/var/log/x/*.log"], **extra)


def _write(directory: Path, metric: str, labels: dict[str, str], value: float) -> None:
    values = MmapedDict(str(directory / "counter_shipping.db"))
    key = mmap_key(metric, f"{metric}_total", list(labels), list(labels.values()), "help")
    values.write_value(key, value, 0.0)
    values.close()


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_only_configured_sources_and_recorded_services_are_served(tmp_path: Path) -> None:
    _write(tmp_path, "sidecar_log_lines_read", {"service_name": "a", "source": "app"}, 3)
    _write(tmp_path, "sidecar_log_lines_read", {"service_name": "b", "source": "app"}, 4)
    _write(tmp_path, "sidecar_access_log_skipped", {"service_name": "a"}, 5)
    series = CurrentSeries(str(tmp_path), [_source("app", "a", access_log=True)])
    registry = CollectorRegistry()
    registry.register(series)
    assert _samples(registry) == {
        ("sidecar_log_lines_read_total", (("service_name", "a"), ("source", "app"))): 3,
        ("sidecar_access_log_skipped_total", (("service_name", "a"),)): 5,
    }

    series.follow([_source("app", "b")])
    assert _samples(registry) == {
        ("sidecar_log_lines_read_total", (("service_name", "b"), ("source", "app"))): 4,
    }


def test_a_file_the_child_is_still_creating_does_not_fail_the_scrape(tmp_path: Path) -> None:
    _write(tmp_path, "sidecar_log_lines_read", {"service_name": "a", "source": "app"}, 3)
    # prometheus_client opens a new file empty, then sizes it: caught in between.
    (tmp_path / "gauge_livesum_shipping.db").touch()
    registry = CollectorRegistry()
    registry.register(CurrentSeries(str(tmp_path), [_source("app", "a")]))
    assert _samples(registry) == {
        ("sidecar_log_lines_read_total", (("service_name", "a"), ("source", "app"))): 3,
    }
