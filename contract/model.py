"""contract/telemetry.yaml, read and checked: a typed `Contract`, or ContractError.

Guarantee: a contract that loads is consistent. Every label, component and log field an
entry refers to exists; metric and label names are valid Prometheus names; counters end
in _total; only histograms have buckets, strictly increasing; no name is defined twice;
the severities and health statuses that other sections key on are the label values.
An unknown key anywhere is refused, so a misspelled field cannot pass unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic import model_validator as _model_validator

CONTRACT_FILE = Path(__file__).resolve().parent / "telemetry.yaml"

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]


def _label_name(name: str) -> str:
    # Names starting with __ are Prometheus's own; `le` is every histogram bucket's.
    if name.startswith("__") or name == "le":
        raise ValueError(f"{name!r} is reserved")
    return name


LabelName = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$"), AfterValidator(_label_name)
]
Text = Annotated[str, StringConstraints(min_length=1)]


class ContractError(ValueError):
    """contract/telemetry.yaml is unreadable or inconsistent; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Component(_Strict):
    description: Text
    port: Annotated[int, Field(ge=1, le=65535)]
    # The service_name of the component's own series and records, when fixed.
    service_name: Text | None = None
    # The Loki `source` its records are shipped as, when the stack ships them.
    log_source: Text | None = None


class Label(_Strict):
    name: LabelName
    description: Text
    # A closed set of values, when the contract fixes one.
    values: tuple[Text, ...] = ()


class Http(_Strict):
    known_methods: tuple[Annotated[str, StringConstraints(pattern=r"^[A-Z]+$")], ...]
    other_method: Text
    unmatched_route: Text
    other_status: Text


class Metric(_Strict):
    name: MetricName
    type: Literal["counter", "gauge", "histogram"]
    description: Text
    labels: tuple[Id, ...] = ()
    buckets: tuple[float, ...] = ()
    emitted_by: tuple[Id, ...]
    # Labels one emitter adds to `labels` (the sidecar speaks for other services).
    extra_labels: dict[Id, tuple[Id, ...]] = {}
    # Catch-all values this metric adds to a label's closed set, to keep it bounded.
    extra_values: dict[Id, tuple[Text, ...]] = {}

    @_model_validator(mode="after")
    def _shape(self) -> Metric:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"{self.type} {self.name} must not end in _total")
        if (self.type == "histogram") != bool(self.buckets):
            raise ValueError("buckets belong to histograms, and every histogram needs them")
        if any(b <= a for a, b in zip(self.buckets, self.buckets[1:], strict=False)):
            raise ValueError(f"buckets must increase strictly: {list(self.buckets)}")
        if any(bucket <= 0 for bucket in self.buckets):
            raise ValueError("buckets must be positive")
        if not self.emitted_by:
            raise ValueError("emitted_by names at least one component")
        for component in self.extra_labels:
            if component not in self.emitted_by:
                raise ValueError(f"extra_labels: {component} is not in emitted_by")
        return self


class Field_(_Strict):
    description: Text
    required: bool = False


class LogRecords(_Strict):
    fields: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], Field_]
    access_fields: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], Field_]


class Loki(_Strict):
    # The component that pushes the streams (its module gets their names).
    shipped_by: Id
    stream_labels: tuple[Id, ...]
    structured_metadata: tuple[Text, ...]


class Health(_Strict):
    media_type: Text
    specification: Text
    endpoints: tuple[Annotated[str, StringConstraints(pattern=r"^/\S*$")], ...]
    http_status: dict[Text, Annotated[int, Field(ge=200, le=599)]]
    fields: dict[Text, Field_]
    check_fields: dict[Text, Field_]


class Alerts(_Strict):
    name_pattern: Text
    labels: tuple[Id, ...]
    severities: dict[Text, Text]
    annotations: dict[Text, Text]


class Datasource(_Strict):
    uid: Text
    type: Text


class Dashboard(_Strict):
    uid: Text
    title: Text


class Grafana(_Strict):
    datasources: dict[Id, Datasource]
    dashboards: dict[Id, Dashboard]
    variable: Id


class Contract(_Strict):
    components: dict[Id, Component]
    labels: dict[Id, Label]
    http: Http
    runtime_metric_prefixes: tuple[Text, ...]
    metrics: dict[Id, Metric]
    log_records: LogRecords
    loki: Loki
    health: Health
    alerts: Alerts
    grafana: Grafana

    @_model_validator(mode="after")
    def _references(self) -> Contract:
        problems = [*self._metric_problems(), *self._section_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _metric_problems(self) -> list[str]:
        problems = []
        names: dict[str, str] = {}
        for key, metric in self.metrics.items():
            where = f"metrics.{key}"
            if metric.name in names:
                problems.append(f"{where}: {metric.name} is also metrics.{names[metric.name]}")
            names[metric.name] = key
            for component in metric.emitted_by:
                if component not in self.components:
                    problems.append(f"{where}.emitted_by: no component {component!r}")
            for component in metric.emitted_by:
                ids = (*metric.labels, *metric.extra_labels.get(component, ()))
                unknown = [label for label in ids if label not in self.labels]
                if unknown:
                    problems.append(f"{where}: no label {unknown[0]!r} in labels")
                    continue
                label_names = [self.labels[label].name for label in ids]
                if len(set(label_names)) != len(label_names):
                    problems.append(f"{where}: a label name repeats for {component}")
            for label in metric.extra_values:
                closed = label in metric.labels and label in self.labels
                if not closed or not self.labels[label].values:
                    problems.append(f"{where}.extra_values: {label} is not a closed label of it")
        return problems

    def _section_problems(self) -> list[str]:
        problems = []
        ports: dict[int, str] = {}
        for key, component in self.components.items():
            if component.port in ports:
                problems.append(f"components.{key}.port: also {ports[component.port]}'s")
            ports[component.port] = key
        if self.loki.shipped_by not in self.components:
            problems.append(f"loki.shipped_by: no component {self.loki.shipped_by!r}")
        references = [
            ("loki.stream_labels", self.loki.stream_labels),
            ("alerts.labels", self.alerts.labels),
            ("grafana.variable", (self.grafana.variable,)),
        ]
        for where, ids in references:
            problems += [f"{where}: no label {i!r}" for i in ids if i not in self.labels]
        problems += [
            f"loki.structured_metadata: {field!r} is not a log record field"
            for field in self.loki.structured_metadata
            if field not in self.log_records.fields
        ]
        clash = set(self.log_records.fields) & set(self.log_records.access_fields)
        if clash:
            problems.append(f"log_records.access_fields repeat {sorted(clash)}")
        for where, keys, label in (
            ("alerts.severities", self.alerts.severities, "severity"),
            ("health.http_status", self.health.http_status, "health_status"),
        ):
            values = self.labels[label].values if label in self.labels else ()
            if tuple(keys) != values:
                problems.append(f"{where}: keys must be labels.{label}.values {list(values)}")
        try:
            re.compile(self.alerts.name_pattern)
        except re.error as exc:
            problems.append(f"alerts.name_pattern: {exc}")
        return problems

    def label(self, key: str) -> str:
        """The wire name of label `key`."""
        return self.labels[key].name

    def metric(self, key: str) -> Metric:
        return self.metrics[key]

    def metric_labels(self, key: str, component: str) -> tuple[str, ...]:
        """The label names of metric `key` as `component` exports it."""
        metric = self.metrics[key]
        ids = (*metric.labels, *metric.extra_labels.get(component, ()))
        return tuple(self.labels[label].name for label in ids)

    def label_values(self, metric: str, label: str) -> tuple[str, ...]:
        """The values label `label` (a key) may take on metric `metric` (a key); empty when
        the label's values are open."""
        return (*self.labels[label].values, *self.metrics[metric].extra_values.get(label, ()))

    def metrics_of(self, component: str) -> dict[str, Metric]:
        return {k: m for k, m in self.metrics.items() if component in m.emitted_by}

    def datasource_uid(self, key: str) -> str:
        return self.grafana.datasources[key].uid

    def dashboard_uid(self, key: str) -> str:
        return self.grafana.dashboards[key].uid


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def load(path: Path = CONTRACT_FILE) -> Contract:
    """The contract in `path`; ContractError naming the file and the field otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: {exc}") from None
    try:
        return Contract.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{_location(dict(e))}: {e['msg']}" for e in exc.errors()]
        raise ContractError(f"{path}:\n  " + "\n  ".join(lines)) from None
