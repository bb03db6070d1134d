"""The shipping process's series as the main process serves them: only those of the
sources configured now.

The child's values live in prometheus_client's multiprocess files, which keep every
series a child ever wrote (its counters must survive a restart). When a services-file
reload removes a source, its series must still leave /metrics, as they do in the
thread mode (reload.forget_sources): a stale `sidecar_log_backlog_bytes` would keep
an alert firing for a service nobody ships any more. Guarantee: a `sidecar_log_*`
series is served only while its (service_name, source) is configured, and an
access-log request series only while a configured source records that service; a
source added back continues its counters where they were. A scrape never fails on a
file the child is still creating.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from sidecar.shipping.config import SourceConfig

# A multiprocess file starts with 8 bytes: how much of it is used, and padding.
HEADER_BYTES = 8


class CurrentSeries(Collector):
    def __init__(self, path: str, sources: Sequence[SourceConfig]) -> None:
        self._path = path
        self._files = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]  # unannotated upstream
        self.follow(sources)

    def _complete_files(self) -> list[str]:
        """The child's files, without one it is creating: prometheus_client creates a
        file empty, then sizes it, and reading it in between fails the whole scrape."""
        complete = []
        for name in glob.glob(os.path.join(self._path, "*.db")):
            with contextlib.suppress(FileNotFoundError):
                if os.path.getsize(name) >= HEADER_BYTES:
                    complete.append(name)
        return complete

    def follow(self, sources: Sequence[SourceConfig]) -> None:
        """Serve the series of `sources` from now on."""
        self._sources = {(s.service_name, s.name) for s in sources}
        self._recorded = {s.service_name for s in sources if s.access_log is not None}

    def collect(self) -> Iterable[Metric]:
        sources, recorded = self._sources, self._recorded
        merged: Iterable[Metric] = self._files.merge(self._complete_files(), accumulate=True)  # type: ignore[no-untyped-call]  # unannotated upstream
        for metric in merged:
            metric.samples = [
                sample
                for sample in metric.samples
                if (
                    (sample.labels.get("service_name"), sample.labels["source"]) in sources
                    if "source" in sample.labels
                    else sample.labels.get("service_name") in recorded
                )
            ]
            yield metric
