"""The schema of the services file: one entry per service the stack runs beside.

    services:
      - name: orders-api
        logs:                       # the sidecar tails these and ships them to Loki
          - paths: [/var/log/attached/orders/*.log]
            format: text            # json | text | docker
            access_log:             # request metrics from the log (no /metrics needed)
              format: combined
              routes: ["/orders/{id}"]
        health:                     # the sidecar probes these
          - name: live
            url: http://host.docker.internal:8080/healthz
        metrics:                    # optional: Prometheus scrapes it
          target: host.docker.internal:8080
        slo:                        # optional: every field has a default
          availability: {objective: 0.999}
          latency: {objective: 0.999, threshold_seconds: 0.5}

Everything the stack derives per service comes from here: Prometheus's scrape
targets and SLO objectives (prometheus/render.py), the sidecar's log sources and
health checks (derive.py; the running sidecar follows the file, watch.py). Each
block reuses the sidecar's own validation where the sidecar consumes it (text
patterns, multiline, access-log routes, health checks), so a file that loads
here is one the sidecar accepts.

String values may not hold quotes or line breaks (tests and the loader's
`forbidden_characters` say why): a service name ends up in PromQL, Loki labels
and YAML, and no legitimate path, URL or route needs one.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sidecar.accesslog.config import AccessLogConfig
from sidecar.accesslog.metrics import DURATION_BUCKETS
from sidecar.health.config import HttpCheck, TcpCheck
from sidecar.shipping.config import MultilineConfig, SourceConfig, TextFormat

# A service, log source or check name: it becomes a Prometheus and Loki label value
# and part of file and rule names, so it stays short and plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# host:port (a DNS name, an IPv4 address or a bracketed IPv6 address).
TARGET = re.compile(r"^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})$")
MAX_SERVICES = 500


def _finite(value: Any) -> Any:
    # YAML `true` is not a number here, and NaN/inf are never a sensible threshold.
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Number = Annotated[float, BeforeValidator(_finite)]
Ratio = Annotated[Number, Field(gt=0, lt=1)]
Positive = Annotated[Number, Field(gt=0)]


def _first_repeated(values: list[str]) -> str | None:
    """The first (sorted) value that occurs more than once, if any."""
    repeated = sorted({value for value in values if values.count(value) > 1})
    return repeated[0] if repeated else None


def _detail(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path (as the sidecar sees it)")
    return path


def _url_path(path: str) -> str:
    if not path.startswith("/") or any(char in path for char in "?# "):
        raise ValueError(f"{path!r} is not a URL path such as /metrics")
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSource(_Strict):
    """Files of one service, read as one Loki source."""

    # The Loki `source` label; defaults to the service name.
    source: Name | None = None
    paths: Annotated[list[Annotated[str, AfterValidator(_absolute)]], Field(min_length=1)]
    format: Literal["json", "text", "docker"] = "json"
    # Where a text line keeps its level and timestamp (regular expressions).
    text: TextFormat = TextFormat()
    access_log: AccessLogConfig | None = None
    # Tracebacks and stack traces as one entry (text logs only).
    multiline: MultilineConfig | None = None

    def sidecar_source(self, service_name: str) -> SourceConfig:
        """The sidecar's source for this entry; ValidationError if the sidecar would refuse it."""
        return SourceConfig(
            name=self.source or service_name,
            service_name=service_name,
            paths=self.paths,
            format=self.format,
            text=self.text,
            access_log=self.access_log,
            multiline=self.multiline,
        )


class _CheckFields(TypedDict):
    """What every sidecar check takes from a services-file health entry."""

    name: str
    service_name: str
    interval_seconds: float
    timeout_seconds: float
    failure_threshold: int
    critical: bool


class HealthCheck(_Strict):
    """One URL the sidecar probes: http(s):// for a request, tcp://host:port for a connect."""

    name: Name
    url: Annotated[str, Field(min_length=1)]
    critical: bool = True
    interval_seconds: Positive = 10.0
    timeout_seconds: Positive = 2.0
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    expected_status: Annotated[list[int | str], Field(min_length=1)] = ["2xx"]

    def sidecar_check(self, service_name: str) -> HttpCheck | TcpCheck:
        """The sidecar's check for this entry; ValidationError if the sidecar would refuse it."""
        common: _CheckFields = {
            "name": f"{service_name}-{self.name}",
            "service_name": service_name,
            "interval_seconds": self.interval_seconds,
            "timeout_seconds": self.timeout_seconds,
            "failure_threshold": self.failure_threshold,
            "critical": self.critical,
        }
        tcp = re.fullmatch(r"tcp://(?P<host>[^/:]+|\[[^]]+\]):(?P<port>[0-9]{1,5})/?", self.url)
        if tcp is not None:
            if self.expected_status != ["2xx"]:
                raise ValueError("expected_status applies to http(s):// URLs only")
            host = tcp["host"].strip("[]")
            return TcpCheck(kind="tcp", host=host, port=int(tcp["port"]), **common)
        if self.url.startswith("tcp:"):
            raise ValueError(f"{self.url!r}: a tcp check is written tcp://host:port")
        return HttpCheck(kind="http", url=self.url, expected_status=self.expected_status, **common)


class MetricsTarget(_Strict):
    """The service's own /metrics, scraped by Prometheus."""

    target: str
    path: Annotated[str, AfterValidator(_url_path)] = "/metrics"
    scheme: Literal["http", "https"] = "http"
    # The `job` label of its series; defaults to the service name.
    job: Name | None = None

    @field_validator("target")
    @classmethod
    def _host_port(cls, value: str) -> str:
        match = TARGET.fullmatch(value)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(f"{value!r} is not host:port (e.g. orders:8080)")
        return value


class AvailabilityObjective(_Strict):
    # Share of requests answered with a status below 500, over 30 days.
    objective: Ratio = 0.999


class LatencyObjective(_Strict):
    # Share of requests answered within threshold_seconds, over 30 days.
    objective: Ratio = 0.999
    threshold_seconds: Positive = 0.5

    @field_validator("threshold_seconds")
    @classmethod
    def _bucket_boundary(cls, value: float) -> float:
        # The SLO counts requests in the histogram bucket of the threshold; between
        # two boundaries there is no such bucket and the latency SLO would see nothing.
        if value not in DURATION_BUCKETS:
            raise ValueError(
                f"{value} is not a bucket boundary of http_server_request_duration_seconds; "
                f"use one of {list(DURATION_BUCKETS)}"
            )
        return float(value)


class Slo(_Strict):
    """Objectives (30-day window) and the thresholds of the symptom alerts."""

    availability: AvailabilityObjective = AvailabilityObjective()
    latency: LatencyObjective = LatencyObjective()
    # HighErrorRate: the 5-minute error ratio above this opens a ticket.
    high_error_rate: Ratio = 0.05
    # HighLatencyP99: the 5-minute p99 above this many seconds opens a ticket.
    high_latency_p99_seconds: Positive = 1.0
    # Below this many requests per second no ratio alert fires: two failures out
    # of ten requests are not an outage.
    min_request_rate: Positive = 0.1


class Service(_Strict):
    """A service the stack runs beside."""

    name: Name
    logs: list[LogSource] = []
    health: list[HealthCheck] = []
    metrics: MetricsTarget | None = None
    slo: Slo = Slo()

    @model_validator(mode="after")
    def _consistent(self) -> Service:
        if not (self.logs or self.health or self.metrics):
            raise ValueError("a service needs at least one of logs, health or metrics")
        if source := _first_repeated(self.source_names()):
            raise ValueError(
                f"logs: source {source!r} is used twice; give each log a distinct `source`"
            )
        if repeated := _first_repeated([check.name for check in self.health]):
            raise ValueError(f"health: the check name {repeated!r} is used twice")
        for index, log in enumerate(self.logs):
            try:
                log.sidecar_source(self.name)
            except ValueError as exc:
                raise ValueError(f"logs[{index}]: {_detail(exc)}") from None
        for index, check in enumerate(self.health):
            try:
                check.sidecar_check(self.name)
            except ValueError as exc:
                raise ValueError(f"health[{index}] ({check.name}): {_detail(exc)}") from None
        return self

    def sidecar_check_names(self) -> list[str]:
        """The sidecar's name of each health check (`<service>-<check>`)."""
        return [f"{self.name}-{check.name}" for check in self.health]

    def source_names(self) -> list[str]:
        """The `source` label of each log, in order."""
        return [log.source or self.name for log in self.logs]


class ServicesFile(_Strict):
    """The root of the services file."""

    services: Annotated[list[Service], Field(max_length=MAX_SERVICES)] = []

    @model_validator(mode="after")
    def _unique(self) -> ServicesFile:
        if name := _first_repeated([service.name for service in self.services]):
            raise ValueError(f"the service name {name!r} is listed twice")
        sources = [source for service in self.services for source in service.source_names()]
        if source := _first_repeated(sources):
            raise ValueError(
                f"the log source {source!r} belongs to two services; sources are "
                "unique across the file (set `source` on one of them)"
            )
        checks = [name for service in self.services for name in service.sidecar_check_names()]
        if check := _first_repeated(checks):
            raise ValueError(
                f"two health checks would both be named {check!r} (service-check); "
                "rename one of them"
            )
        return self
