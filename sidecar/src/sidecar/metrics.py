"""The one Prometheus registry of the sidecar, and its processes' own metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from sidecar import telemetry_contract as contract


class ProcessMetrics(Collector):
    """process_* of the main process, labelled service_name="sidecar" (the sidecar's
    scrape job honours labels, so without it its own series would carry no service_name
    at all), and of each process added with `add`, labelled process="<name>" besides:
    sum by (service_name) is then the whole sidecar."""

    def __init__(self) -> None:
        self._main = ProcessCollector(registry=None)
        self._others: list[tuple[str, ProcessCollector]] = []

    def add(self, name: str, pid: Callable[[], int | None]) -> None:
        """Also report the process `pid()` names (none while it returns None)."""
        self._others.append((name, ProcessCollector(pid=_proc_entry(pid), registry=None)))

    def collect(self) -> Iterable[Metric]:
        families = {metric.name: metric for metric in self._main.collect()}
        for metric in families.values():
            for sample in metric.samples:
                sample.labels["service_name"] = contract.SERVICE_NAME
        for name, collector in self._others:
            for metric in collector.collect():
                family = families.get(metric.name)
                for sample in metric.samples:
                    sample.labels.update(service_name=contract.SERVICE_NAME, process=name)
                    if family is not None:
                        family.samples.append(sample)
        return families.values()


def _proc_entry(pid: Callable[[], int | None]) -> Callable[[], int | str]:
    """ProcessCollector reads /proc/<entry>/; while there is no process, an entry /proc
    never holds, so it reports nothing, as for a process that has just exited."""

    def entry() -> int | str:
        current = pid()
        return "none" if current is None else current

    return entry


def new_registry() -> tuple[CollectorRegistry, ProcessMetrics]:
    registry = CollectorRegistry(auto_describe=True)
    processes = ProcessMetrics()
    registry.register(processes)
    return registry, processes
