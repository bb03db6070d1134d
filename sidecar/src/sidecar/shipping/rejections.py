"""Reading Loki's 400 answers: how many entries of a one-stream push it refused, and why.

Loki validates per entry and writes the valid ones of a push even when it answers 400,
so the body is the only record of what was lost. Guarantee: for a push that holds one
stream (the batcher never builds any other), every entry Loki refused is counted once,
under the name Loki's own `loki_discarded_samples_total{reason}` uses where the body
says it, else as `rejected`; never more than the batch held. What the bodies look like
(grafana/loki at the commit in ../shared/env/bin/SOURCES.md):

- The distributor's checks (pkg/distributor/validator.go) end in one message per refused
  entry, or per refused stream for label errors, grouped by text
  (pkg/util/errors.GroupedErrors): "msg" alone when there is one, else
  "N errors like: msg; M errors like: msg2". Messages start in lower case ("max entry
  size ...", "entry for stream ... has timestamp too old ...").
- The ingester (pkg/ingester/stream.go) lists the refused entries ("entry with timestamp
  ... ignored, reason: '...'", at most max_returned_stream_errors, 10) and ends with
  "total ignored: N out of M for stream: {...}", where M counts the entries that passed
  the distributor. When the ingester refuses anything its answer replaces the
  distributor's, so the batch's entries beyond M were refused by the distributor for a
  reason the body no longer says (`rejected`).
- The ingester keeps only its *last* stream's verdict (pkg/ingester/instance.go, Push
  assigns `appendErr` per stream): a refusal in an earlier stream of the same push is
  answered 204. One stream per push makes every verdict the push's own. Loki's stream
  sharding (shard_streams, `__stream_shard__` in the stream name) splits a stream into
  several again; then only the last shard's refusals are reported and M is that shard's,
  so nothing is inferred from M (loki/loki.yaml turns sharding off).
"""

from __future__ import annotations

import re
from collections import Counter

_TOTAL = re.compile(r"total ignored: (\d+) out of (\d+) for stream: (.*)")
_ENTRY = re.compile(r"entry with timestamp .*? ignored, reason: '([^']*)'")
_GROUP = re.compile(r"(?:^|; )(\d+) errors like: ")
SHARD_LABEL = "__stream_shard__"

# Messages that refuse one entry each; any other refuses its whole stream or request.
_PER_ENTRY: tuple[tuple[str, str], ...] = (
    ("too far behind", "too_far_behind"),
    ("out of order", "out_of_order"),
    ("has timestamp too old", "greater_than_max_sample_age"),
    ("has timestamp too new", "too_far_in_future"),
    ("max entry size", "line_too_long"),
    ("structured metadata too large", "structured_metadata_too_large"),
    ("too many structured metadata", "structured_metadata_too_many"),
    ("includes structured metadata, but", "disallowed_structured_metadata"),
)
_WHOLE: tuple[tuple[str, str], ...] = (
    ("couldn't parse labels", "invalid_labels"),
    ("error parsing labels", "invalid_labels"),
    ("at least one label pair", "missing_labels"),
    ("missing required labels", "missing_enforced_labels"),
    ("label names; limit", "max_label_names_per_series"),
    ("label name too long", "label_name_too_long"),
    ("label value too long", "label_value_too_long"),
    ("duplicate label name", "duplicate_label_names"),
    ("request body too large", "request_body_too_large"),
)

UNKNOWN_REASON = "rejected"
# Every reason dropped_by_reason can report.
REASONS = tuple(dict.fromkeys([r for _, r in (*_PER_ENTRY, *_WHOLE)] + [UNKNOWN_REASON]))


def _match(message: str, table: tuple[tuple[str, str], ...]) -> str | None:
    lowered = message.lower()
    for needle, reason in table:
        if needle in lowered:
            return reason
    return None


def reason_of(message: str) -> str:
    return _match(message, _PER_ENTRY) or _match(message, _WHOLE) or UNKNOWN_REASON


def dropped_by_reason(body: str, batch_entries: int) -> Counter[str]:
    """Entries of a one-stream batch Loki refused, by reason; the rest were written."""
    total = _TOTAL.search(body)
    if total is not None:
        dropped = _from_ingester(body, total, batch_entries)
    else:
        dropped = _from_distributor(body.strip(), batch_entries)
    count = sum(dropped.values())
    if count > batch_entries:
        # Never report more losses than the batch held.
        scale = batch_entries / count
        dropped = Counter({k: int(v * scale) for k, v in dropped.items()})
        dropped[UNKNOWN_REASON] += batch_entries - sum(dropped.values())
    return +dropped


def _from_ingester(body: str, total: re.Match[str], batch_entries: int) -> Counter[str]:
    ignored, reached, stream = int(total[1]), int(total[2]), total[3]
    dropped = Counter(reason_of(reason) for reason in _ENTRY.findall(body))
    listed = sum(dropped.values())
    if ignored > listed:  # past max_returned_stream_errors: counted, reason not given
        dropped[UNKNOWN_REASON] += ignored - listed
    if SHARD_LABEL not in stream and reached < batch_entries:
        # Refused by the distributor; its message was replaced by the ingester's.
        dropped[UNKNOWN_REASON] += batch_entries - reached
    return dropped


def _from_distributor(body: str, batch_entries: int) -> Counter[str]:
    parts = _GROUP.split(body)
    # "msg" alone, or ["", "N", "msg", "M", "msg2", ...]
    groups = (
        [(1, body)] if len(parts) == 1 else zip(map(int, parts[1::2]), parts[2::2], strict=True)
    )
    dropped: Counter[str] = Counter()
    for times, message in groups:
        per_entry = _match(message, _PER_ENTRY)
        if per_entry is None:
            # A label or request error refuses the whole (one-stream) push.
            return Counter({_match(message, _WHOLE) or UNKNOWN_REASON: batch_entries})
        dropped[per_entry] += times
    return dropped
