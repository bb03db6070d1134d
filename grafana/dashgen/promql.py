"""PromQL fragments shared by the dashboards.

Every range in a rate uses Grafana's $__rate_interval (so a panel stays correct
at any zoom and scrape interval), and every selector picks the service by
service_name only, which is the one label all three metric sources share.
"""

from __future__ import annotations

from grafana.dashgen.contract import SERVICE_LABEL

RATE_INTERVAL = "$__rate_interval"
SERVICE = f'{SERVICE_LABEL}="${SERVICE_LABEL}"'
SERVER_ERROR = 'http_response_status_code=~"5.."'


def sel(metric: str, *matchers: str) -> str:
    """`metric{matchers...}`; an empty matcher list gives the bare name."""
    inner = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


def rate(metric: str, *matchers: str) -> str:
    return f"rate({sel(metric, *matchers)}[{RATE_INTERVAL}])"


def sum_by(labels: tuple[str, ...], expr: str) -> str:
    """`sum by (labels) (expr)`, or `sum(expr)` when there is nothing to keep."""
    return f"sum by ({', '.join(labels)}) ({expr})" if labels else f"sum({expr})"


def quantile(q: float, histogram: str, by: tuple[str, ...], *matchers: str) -> str:
    """The q-quantile of a classic histogram, aggregated over everything but `by`."""
    buckets = sum_by((*by, "le"), rate(f"{histogram}_bucket", *matchers))
    return f"histogram_quantile({q}, {buckets})"


def ratio_or_zero(numerator: str, denominator: str) -> str:
    """numerator / denominator, reading 0 (not "No data") while the numerator has no series.

    prometheus-client only exports a label combination once it has been seen, so
    a service that has never failed has no 5xx series at all; `or denominator * 0`
    keeps the label set of the denominator and makes that a real zero, while no
    traffic at all still reads "No data".
    """
    return f"({numerator} or {denominator} * 0) / {denominator}"
