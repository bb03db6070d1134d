"""Stack self-monitoring: the sidecar's log shipping, Prometheus itself, Alertmanager,
and the alert inbox (what Alertmanager delivered when no receiver is configured)."""

from __future__ import annotations

from grafana.dashgen.contract import (
    ACCESS_LOG_COLLAPSED,
    INBOX_LAST_HEARTBEAT,
    INBOX_NOTIFICATIONS,
    INBOX_PORT,
    INBOX_REJECTED,
    INBOX_SERVICE,
    INBOX_SOURCE,
    LOG_BACKLOG,
    LOG_FILES_REFUSED,
    LOG_HELD_OPEN,
    LOG_LAST_SHIPPED,
    LOG_LINES_DROPPED,
    LOG_LINES_READ,
    LOG_LINES_SHIPPED,
    LOG_SHIP_DURATION,
    LOG_SHIP_REQUESTS,
    LOG_SOURCE_STALLED,
    LOGS_UID,
    SERVICES_FILE_OK,
    SHIPPING_PROCESS_UP,
    SHIPPING_RESTARTS,
    SIDECAR_SERVICE,
    STACK_UID,
)
from grafana.dashgen.dashboard import Dashboard, Row
from grafana.dashgen.panels import Datasource, Link, Query, Thresholds, logs, stat, timeseries
from grafana.dashgen.promql import SERVICE, quantile, rate, sel, sum_by

PROM = Datasource("prometheus", "prometheus_datasource")
LOKI = Datasource("loki", "loki_datasource")
SOURCE = ("source",)
# The sidecar's own series (not the chosen service's).
OWN = f'service_name="{SIDECAR_SERVICE}"'


def _sidecar_row() -> Row:
    return Row(
        "Sidecar log shipping",
        (
            timeseries(
                "Lines read and shipped",
                "Lines per second the sidecar reads from each log source and ships to Loki; "
                "shipped below read means a backlog is building.",
                "cps",
                PROM,
                Query(sum_by(SOURCE, rate(LOG_LINES_READ, SERVICE)), legend="read {{source}}"),
                Query(
                    sum_by(SOURCE, rate(LOG_LINES_SHIPPED, SERVICE)),
                    legend="shipped {{source}}",
                ),
                links=(Link("Logs of this service", LOGS_UID),),
            ),
            timeseries(
                "Backlog and files held open",
                "Bytes written to the log files and not yet acknowledged by Loki (backlog), "
                "and the size of rotated-away and deleted files the sidecar keeps open until "
                "they are shipped. There is no disk spool: unshipped lines wait in the files, "
                "and a deleted one holds its disk space until it is drained.",
                "bytes",
                PROM,
                Query(sum_by(SOURCE, sel(LOG_BACKLOG, SERVICE)), legend="backlog {{source}}"),
                Query(
                    sum_by(("state",), sel(LOG_HELD_OPEN, SERVICE)),
                    legend="held open: {{state}}",
                ),
            ),
            timeseries(
                "Stalled sources",
                "1 while a source has a backlog and nothing was acknowledged for "
                "stall_after_seconds although Loki answers (LogShippingStalled follows).",
                "short",
                PROM,
                Query(f"max by (source) ({sel(LOG_SOURCE_STALLED, SERVICE)})", legend="{{source}}"),
                min=0,
                max=1,
                thresholds=Thresholds("green", ((1, "red"),)),
            ),
            timeseries(
                "Files refused and access-log series collapsed",
                "Matched paths the sidecar will not tail (symlink outside the allowed roots, "
                "not a regular file, /proc or /sys), and access-log requests recorded under a "
                "catch-all label to bound the series (route_too_long, max_routes, max_series), "
                "per second by reason.",
                "cps",
                PROM,
                # One query: the two reason sets do not overlap, and a service with no
                # access log still gets the refused-files series (0 when all is well).
                Query(
                    f"{sum_by(('reason',), rate(LOG_FILES_REFUSED, SERVICE))} or "
                    f"{sum_by(('reason',), rate(ACCESS_LOG_COLLAPSED, SERVICE))}",
                    legend="{{reason}}",
                ),
            ),
            timeseries(
                "Dropped lines",
                "Lines per second the sidecar gave up on, by reason; anything above 0 is "
                "data loss to investigate.",
                "cps",
                PROM,
                Query(sum_by(("reason",), rate(LOG_LINES_DROPPED, SERVICE)), legend="{{reason}}"),
                thresholds=Thresholds("green", ((0.000001, "red"),)),
            ),
            timeseries(
                "Push requests by outcome",
                "Push requests per second to Loki by outcome; retries and errors show Loki "
                "being slow or away.",
                "reqps",
                PROM,
                Query(
                    sum_by(("outcome",), rate(LOG_SHIP_REQUESTS, SERVICE)),
                    legend="{{outcome}}",
                ),
            ),
            timeseries(
                "Push latency p95",
                "95th percentile duration of a push to Loki.",
                "s",
                PROM,
                Query(quantile(0.95, LOG_SHIP_DURATION, SOURCE, SERVICE), legend="{{source}}"),
            ),
            timeseries(
                "Shipping process",
                "The sidecar ships from a process of its own, restarted with a backoff when it "
                "dies or hangs: 1 while it runs and reports ready, and its restarts by reason "
                "(LogShippingProcessFailing follows repeated ones). For every watched service.",
                "short",
                PROM,
                Query(f"min({sel(SHIPPING_PROCESS_UP, OWN)})", legend="up"),
                Query(
                    sum_by(
                        ("reason",),
                        f"increase({sel(SHIPPING_RESTARTS, OWN)}[$__rate_interval])",
                    ),
                    legend="restarts: {{reason}}",
                ),
                min=0,
            ),
            stat(
                "Services file in force",
                "1 while the sidecar runs the services file as it is; 0 while it cannot use "
                "the file and runs the last good one (ServicesFileRejected; its /health/ready "
                "names the service and field). Empty when no services file is configured.",
                "short",
                PROM,
                Query(f"min({sel(SERVICES_FILE_OK, OWN)})", instant=True),
                thresholds=Thresholds("red", ((1, "green"),)),
                width=12,
                height=8,
            ),
            stat(
                "Since last shipped",
                "Seconds since the sidecar last shipped a batch to Loki for this service.",
                "s",
                PROM,
                Query(f"time() - max({sel(LOG_LAST_SHIPPED, SERVICE)})", instant=True),
                thresholds=Thresholds("green", ((60, "orange"), (300, "red"))),
                width=12,
                height=8,
            ),
        ),
    )


def _prometheus_row() -> Row:
    group = ("rule_group",)
    return Row(
        "Prometheus",
        (
            timeseries(
                "Rule evaluations and failures",
                "Rule evaluations, failed evaluations and missed group iterations per second.",
                "ops",
                PROM,
                Query(f"sum({rate('prometheus_rule_evaluations_total')})", legend="evaluations"),
                Query(
                    f"sum({rate('prometheus_rule_evaluation_failures_total')})",
                    legend="failures",
                ),
                Query(
                    sum_by(group, rate("prometheus_rule_group_iterations_missed_total")),
                    legend="missed {{rule_group}}",
                ),
            ),
            timeseries(
                "Rule group duration",
                "How long each rule group's last evaluation took; near its interval means "
                "iterations will be missed.",
                "s",
                PROM,
                Query(
                    f"max by (rule_group) ({sel('prometheus_rule_group_last_duration_seconds')})",
                    legend="{{rule_group}}",
                ),
            ),
            timeseries(
                "Scrape targets up",
                "1 when Prometheus's last scrape of the service's targets succeeded, per "
                "service_name (the synthetic `up` series).",
                "short",
                PROM,
                Query("min by (service_name) (up)", legend="{{service_name}}"),
                min=0,
                max=1,
            ),
            timeseries(
                "Scrape duration",
                "How long each service's scrape took (the synthetic scrape_duration_seconds).",
                "s",
                PROM,
                Query("max by (service_name) (scrape_duration_seconds)", legend="{{service_name}}"),
            ),
            timeseries(
                "TSDB head series and ingestion",
                "Series in the in-memory head block, and samples appended per second.",
                "short",
                PROM,
                Query("sum(prometheus_tsdb_head_series)", legend="head series"),
                Query(
                    f"sum({rate('prometheus_tsdb_head_samples_appended_total')})",
                    legend="samples/s",
                ),
            ),
            timeseries(
                "TSDB problems",
                "Failed compactions, WAL corruptions and failed reloads per second; all "
                "should stay at 0.",
                "ops",
                PROM,
                Query(
                    f"sum({rate('prometheus_tsdb_compactions_failed_total')})",
                    legend="compactions failed",
                ),
                Query(
                    f"sum({rate('prometheus_tsdb_wal_corruptions_total')})",
                    legend="WAL corruptions",
                ),
                Query(
                    f"sum({rate('prometheus_tsdb_reloads_failures_total')})",
                    legend="reloads failed",
                ),
            ),
        ),
    )


def _alertmanager_row() -> Row:
    integration = ("integration",)
    return Row(
        "Alertmanager",
        (
            timeseries(
                "Notifications sent",
                "Notifications per second Alertmanager attempted, per integration "
                "(webhook, slack, email).",
                "ops",
                PROM,
                Query(
                    sum_by(integration, rate("alertmanager_notifications_total")),
                    legend="{{integration}}",
                ),
            ),
            timeseries(
                "Notifications failed",
                "Notifications per second that failed, per integration; a receiver is down "
                "or misconfigured.",
                "ops",
                PROM,
                Query(
                    sum_by(integration, rate("alertmanager_notifications_failed_total")),
                    legend="{{integration}}",
                ),
                thresholds=Thresholds("green", ((0.000001, "red"),)),
            ),
            timeseries(
                "Alerts in Alertmanager",
                "Alerts Alertmanager holds, by state (active or suppressed).",
                "short",
                PROM,
                Query(sum_by(("state",), sel("alertmanager_alerts")), legend="{{state}}"),
            ),
            timeseries(
                "Alerts Prometheus could not deliver",
                "Alerts per second Prometheus dropped on the way to Alertmanager, and the "
                "number of Alertmanagers it has discovered.",
                "short",
                PROM,
                Query(f"sum({rate('prometheus_notifications_dropped_total')})", legend="dropped/s"),
                Query(
                    "max(prometheus_notifications_alertmanagers_discovered)",
                    legend="alertmanagers discovered",
                ),
            ),
        ),
    )


def _inbox_row() -> Row:
    return Row(
        "Alert inbox",
        (
            timeseries(
                "Notifications received by the inbox",
                "Notifications Alertmanager delivered to the stack's inbox per interval, by "
                "receiver (page, ticket) and status. The inbox receives pages and tickets "
                f"while no ALERT_WEBHOOK_URL is set; read them at http://127.0.0.1:{INBOX_PORT}/.",
                "short",
                PROM,
                Query(
                    sum_by(
                        ("receiver", "status"), f"increase({INBOX_NOTIFICATIONS}[$__rate_interval])"
                    ),
                    legend="{{receiver}} {{status}}",
                ),
                Query(
                    f"sum(increase({INBOX_REJECTED}[$__rate_interval]))",
                    legend="refused (not a notification)",
                ),
            ),
            stat(
                "Last Watchdog heartbeat",
                "Seconds since the inbox last heard the Watchdog (Alertmanager sends it every "
                "minute). Above a few minutes the alerting pipeline is broken; empty while "
                "DEADMANS_SWITCH_URL or ALERT_WEBHOOK_URL send the heartbeat elsewhere.",
                "s",
                PROM,
                Query(f"time() - max({INBOX_LAST_HEARTBEAT})", instant=True),
                thresholds=Thresholds("green", ((180.0, "red"),)),
            ),
            logs(
                "Notifications (Loki)",
                "Each notification the inbox recorded, as the log record the sidecar shipped "
                "to Loki; open one for its alerts, labels and links.",
                LOKI,
                Query(f'{{service_name="{INBOX_SERVICE}", source="{INBOX_SOURCE}"}}'),
            ),
        ),
    )


def build() -> Dashboard:
    return Dashboard(
        uid=STACK_UID,
        title="Observability stack",
        description="Self-monitoring of the stack: the sidecar's log shipping for the chosen "
        "service, Prometheus rule evaluation, scrapes and TSDB, Alertmanager notifications, "
        "and the alert inbox.",
        service_source=LOG_LINES_READ,
        service_datasource=PROM,
        rows=(_sidecar_row(), _prometheus_row(), _alertmanager_row(), _inbox_row()),
    )
