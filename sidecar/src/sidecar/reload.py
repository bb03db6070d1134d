"""What a reload of the services file leaves behind: the series of sources it removed.

A source that is no longer configured must not go on exporting its last values: a
stale `sidecar_log_backlog_bytes` above 0 would keep LogShippingBacklog firing for a
service nobody ships any more. Its `sidecar_log_*` series, and the access-log request
series of a service no source records any more, are removed from /metrics (Prometheus
then marks them stale). Sources that stay keep their series and counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from sidecar.accesslog.metrics import metrics_for
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.metrics import ShippingMetrics


def forget_sources(
    registry: CollectorRegistry,
    metrics: ShippingMetrics,
    before: Sequence[SourceConfig],
    after: Sequence[SourceConfig],
) -> None:
    """Remove the series of the sources in `before` that `after` no longer has."""
    kept = {(source.service_name, source.name) for source in after}
    for source in before:
        if (source.service_name, source.name) in kept:
            continue
        labels = {"service_name": source.service_name, "source": source.name}
        for metric in vars(metrics).values():
            if isinstance(metric, MetricWrapperBase):
                metric.remove_by_labels(labels)
    recorded = {source.service_name for source in after if source.access_log is not None}
    gone = {source.service_name for source in before if source.access_log is not None} - recorded
    for service_name in gone:
        for metric in vars(metrics_for(registry)).values():
            if isinstance(metric, MetricWrapperBase):
                metric.remove_by_labels({"service_name": service_name})
