"""Reading Loki's 400 answers: how many entries it refused, and why.

Loki validates per entry and writes the valid ones of a batch even when it answers
400, so the body is the only record of what was lost. The ingester lists each refused
entry ("entry with timestamp ... ignored, reason: '...'") and ends with "total ignored:
N out of M"; the distributor names one reason for the request. Reasons use the names of
Loki's own `loki_discarded_samples_total{reason}`.
"""

from __future__ import annotations

import re
from collections import Counter

_TOTAL = re.compile(r"total ignored: (\d+) out of (\d+)")
_ENTRY = re.compile(r"entry with timestamp .*? ignored, reason: '([^']*)'")
# Distributor messages written once per refused entry (Loki joins several in one body).
_PER_ENTRY = (
    (re.compile(r"Max entry size '\d+' bytes exceeded"), "line_too_long"),
    (re.compile(r"has timestamp too old"), "greater_than_max_sample_age"),
    (re.compile(r"has timestamp too new"), "too_far_in_future"),
)
_REASONS: tuple[tuple[str, str], ...] = (
    ("too far behind", "too_far_behind"),
    ("out of order", "out_of_order"),
    ("timestamp too old", "greater_than_max_sample_age"),
    ("timestamp too new", "too_far_in_future"),
    ("max entry size", "line_too_long"),
    ("error parsing labels", "invalid_labels"),
    ("at least one label pair", "missing_labels"),
    ("structured metadata", "structured_metadata"),
    ("request body too large", "request_body_too_large"),
)

UNKNOWN_REASON = "rejected"
# Every reason dropped_by_reason can report.
REASONS = tuple(
    dict.fromkeys([r for _, r in _PER_ENTRY] + [r for _, r in _REASONS] + [UNKNOWN_REASON])
)


def reason_of(message: str) -> str:
    lowered = message.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    return UNKNOWN_REASON


def dropped_by_reason(body: str, batch_entries: int) -> Counter[str]:
    """Entries of the batch Loki refused, by reason; the rest were written."""
    per_entry = Counter(reason_of(reason) for reason in _ENTRY.findall(body))
    for pattern, reason in _PER_ENTRY:
        found = len(pattern.findall(body))
        if found:
            per_entry[reason] += found
    totals = sum(int(ignored) for ignored, _ in _TOTAL.findall(body))
    if per_entry:
        listed = sum(per_entry.values())
        if totals > listed:
            per_entry[UNKNOWN_REASON] += totals - listed
    elif totals:
        per_entry[reason_of(body)] = totals
    else:
        # No per-entry detail (e.g. unparseable labels): count the whole batch as refused.
        per_entry[reason_of(body)] = batch_entries
    count = sum(per_entry.values())
    if count > batch_entries:
        # Never report more losses than the batch held.
        scale = batch_entries / count
        per_entry = Counter({k: int(v * scale) for k, v in per_entry.items()})
        per_entry[UNKNOWN_REASON] += batch_entries - sum(per_entry.values())
    return +per_entry
