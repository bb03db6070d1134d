"""Loki stream label sets: static labels plus the contract's service_name, level and source."""

from __future__ import annotations

from sidecar.telemetry_contract import LEVEL_LABEL, SERVICE_LABEL, SOURCE_LABEL


def _quote(value: str) -> str:
    # Loki parses label values as Go string literals.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render(labels: dict[str, str]) -> str:
    """`{a="1", b="2"}`, names sorted, the form Loki's protobuf push expects."""
    return "{" + ", ".join(f"{name}={_quote(labels[name])}" for name in sorted(labels)) + "}"


class StreamLabels:
    """Label strings per level for one source, rendered once and reused."""

    def __init__(self, static: dict[str, str], service_name: str, source: str) -> None:
        self._base = {**static, SERVICE_LABEL: service_name, SOURCE_LABEL: source}
        self._rendered: dict[str, str] = {}
        self._dicts: dict[str, dict[str, str]] = {}

    def for_level(self, level: str) -> str:
        rendered = self._rendered.get(level)
        if rendered is None:
            labels = {**self._base, LEVEL_LABEL: level}
            rendered = render(labels)
            self._rendered[level] = rendered
            self._dicts[rendered] = labels
        return rendered

    def as_dict(self, rendered: str) -> dict[str, str]:
        return self._dicts[rendered]
