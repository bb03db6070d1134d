"""The one Prometheus registry of the process, and the sidecar's own process metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

SELF_SERVICE_NAME = "sidecar"


class _SelfLabelled(Collector):
    """Process metrics labelled service_name="sidecar": the sidecar's scrape job honours
    labels, so without this its own series would carry no service_name at all."""

    def __init__(self) -> None:
        self._inner = ProcessCollector(registry=None)

    def collect(self) -> Iterable[Metric]:
        for metric in self._inner.collect():
            for sample in metric.samples:
                sample.labels["service_name"] = SELF_SERVICE_NAME
            yield metric


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_SelfLabelled())
    return registry
