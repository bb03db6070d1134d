"""Finding 9: the docs described a disk spool that does not exist (and a drop reason,
spool_full, that the code can never emit). On-call follows these pages in an outage."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sidecar.shipping.source import DROP_REASONS

REPO = Path(__file__).resolve().parents[3]
DOCS = [
    "README.md",
    "sidecar/README.md",
    "docs/runbooks/LogShippingStalled.md",
    "docs/runbooks/LogLinesDropped.md",
    "docs/runbooks/LogBacklogGrowing.md",
    "compose/sidecar.yaml",
    "grafana/dashgen/stack.py",
    "prometheus/alerts/logs.yml",
]


def test_every_mention_of_a_spool_says_there_is_none():
    for name in DOCS:
        for number, line in enumerate((REPO / name).read_text().splitlines(), 1):
            if "spool" in line.lower():
                assert re.search(r"\b(no|not|none|never|always 0)\b", line), f"{name}:{number}"


def test_alert_tests_use_only_drop_reasons_the_sidecar_emits():
    tests = yaml.safe_load((REPO / "prometheus/tests/logs_test.yml").read_text())
    reasons = set()
    for test in tests["tests"]:
        for series in test.get("input_series", []):
            if series["series"].startswith("sidecar_log_lines_dropped_total{"):
                reasons.update(re.findall(r'reason="([^"]+)"', series["series"]))
    assert reasons
    assert reasons <= set(DROP_REASONS), reasons - set(DROP_REASONS)
