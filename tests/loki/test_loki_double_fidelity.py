"""The Loki double answers every push as the real Loki does, so it cannot drift from it.

Each case is sent, encoded by the sidecar's own encoders (protobuf + snappy and
JSON + gzip), to the real Loki running loki/loki.yaml and to tests/support/loki_double.py.
Both must give the same status, the same body (times and parser positions aside, and
grouped errors in any order, as Go's map order is random), and store the same entries
(labels, timestamp, line, structured metadata; the detected_level Loki adds aside).
The cases are the ones the sidecar meets: plain and re-sent pushes, every per-entry
refusal, label and metadata names Loki rewrites, and the ways a 400 body can leave a
refused entry unmentioned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sidecar.shipping.encoding import ENCODERS

from tests.support.loki import RunningLoki, now_ns
from tests.support.loki_double import MAX_AGE_NS, LokiDouble

pytestmark = pytest.mark.integration

HOUR = 3600 * 1_000_000_000
TOO_LONG = "x" * (256 * 1024 + 1)
# (labels, entries); an entry is (ns after the case's start, line, metadata or None).
Push = list[tuple[dict[str, str], list[tuple[int, str, tuple[tuple[str, str], ...] | None]]]]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict[str, str]], list[Push]]
    """Given the case's own labels, the pushes to send in order (the last is compared)."""


def _one(labels: dict[str, str], *entries: Any) -> Push:
    return [(labels, list(entries))]


CASES = [
    Case(
        "accepted, two streams, with metadata",
        lambda c: [
            [
                ({**c, "level": "info"}, [(0, "a", (("trace_id", "0af7"),)), (1, "b", None)]),
                ({**c, "level": "error"}, [(2, "c", (("trace_id", "0af7"), ("span_id", "b7")))]),
            ]
        ],
    ),
    Case(
        "re-sent push collapses, in any order",
        lambda c: [
            _one(c, (0, "a", None), (1, "b", (("trace_id", "1"),))),
            _one(c, (1, "b", (("trace_id", "1"),)), (0, "a", None)),
        ],
    ),
    Case(
        "same time and line, other metadata: kept apart",
        lambda c: [
            _one(c, (0, "same", (("trace_id", "1"),)), (0, "same", (("trace_id", "2"),))),
            _one(c, (0, "same", None)),
        ],
    ),
    Case(
        "too far behind the stream's newest entry",
        lambda c: [_one(c, (0, "new", None), (-2 * HOUR, "old", None), (1, "fine", None))],
    ),
    Case(
        "more refused entries than Loki lists",
        lambda c: [
            _one(c, (0, "new", None), *[(-2 * HOUR - n, f"old {n}", None) for n in range(12)])
        ],
    ),
    Case(
        "older than reject_old_samples_max_age",
        lambda c: [_one(c, (-200 * HOUR, "ancient", None), (0, "fine", None))],
    ),
    Case(
        "identical refusals are grouped",
        lambda c: [
            _one(
                c,
                (-200 * HOUR, "a", None),
                (-200 * HOUR + 1, "b", None),
                (-300 * HOUR, "c", None),
                (0, "fine", None),
            )
        ],
    ),
    Case(
        "newer than the creation grace period",
        lambda c: [_one(c, (2 * HOUR, "future", None), (0, "fine", None))],
    ),
    Case(
        "line longer than max_line_size",
        lambda c: [_one(c, (0, TOO_LONG, None), (1, "fine", None))],
    ),
    Case(
        "a refused entry in an earlier stream of the push goes unreported",
        lambda c: [
            _one({**c, "level": "info"}, (0, "new", None)),
            [
                ({**c, "level": "info"}, [(-2 * HOUR, "old", None)]),
                ({**c, "level": "error"}, [(1, "fine", None)]),
            ],
        ],
    ),
    Case(
        "the same push with the refused entry in the last stream is reported",
        lambda c: [
            _one({**c, "level": "info"}, (0, "new", None)),
            [
                ({**c, "level": "error"}, [(1, "fine", None)]),
                ({**c, "level": "info"}, [(-2 * HOUR, "old", None)]),
            ],
        ],
    ),
    Case(
        "an ingester refusal hides the distributor's",
        lambda c: [
            _one(c, (0, "new", None)),
            _one(c, (-200 * HOUR, "ancient", None), (-2 * HOUR, "behind", None)),
        ],
    ),
    Case(
        "metadata names are sanitized",
        lambda c: [_one(c, (0, "m", (("trace-id", "1"), ("a.b", "2"))))],
    ),
    Case(
        "service_name discovered from another label",
        lambda c: [
            _one(
                {k: v for k, v in c.items() if k != "service_name"} | {"app": "shop"},
                (0, "x", None),
            )
        ],
    ),
    Case(
        "an unparseable label name refuses the whole push",
        lambda c: [[(c, [(0, "good", None)]), ({**c, "bad-name": "v"}, [(0, "bad", None)])]],
    ),
]


def _render(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _send(url: str, encoding: str, push: Push, start: int) -> httpx.Response:
    streams = [
        (_render(labels), labels, [(start + offset, line, meta) for offset, line, meta in entries])
        for labels, entries in push
    ]
    body = ENCODERS[encoding](streams)
    headers = {"Content-Type": body.content_type}
    if body.content_encoding:
        headers["Content-Encoding"] = body.content_encoding
    return httpx.post(url, content=body.content, headers=headers, timeout=30)


_TIMES = re.compile(r"\d{4}-\d\d-\d\d( |T)\d\d:\d\d:\d\d(\.\d+)?( \+0000 UTC|Z)")


def _normalized(body: str) -> list[str]:
    """The body with times and parse-error details blanked, grouped errors sorted."""
    body = _TIMES.sub("<time>", body.strip())
    body = re.sub(r"couldn't parse labels: .*", "couldn't parse labels: <error>", body)
    return sorted(body.split("; "))


Stored = set[tuple[frozenset[tuple[str, str]], int, str, frozenset[tuple[str, str]]]]


def _stored_in_double(double: LokiDouble, case_id: str) -> Stored:
    out: Stored = set()
    for labels, entries in double.streams().items():
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        if pairs.get("case") == case_id:
            out |= {
                (frozenset(pairs.items()), e.ts, e.line, frozenset(e.metadata)) for e in entries
            }
    return out


def _stored_in_loki(real_loki: RunningLoki, case_id: str, start: int) -> Stored:
    entries = real_loki.query_range(f'{{case="{case_id}"}}', start - 400 * HOUR, start + 3 * HOUR)
    return {
        (
            frozenset(e.labels.items()),
            e.ts,
            e.line,
            frozenset((k, v) for k, v in e.metadata.items() if k != "detected_level"),
        )
        for e in entries
    }


@pytest.fixture(scope="module")
def double() -> Iterator[LokiDouble]:
    # Set up as loki/loki.yaml sets Loki (reject_old_samples_max_age: 168h).
    with LokiDouble(max_age_ns=MAX_AGE_NS) as instance:
        yield instance


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_double_answers_and_stores_as_loki_does(
    real_loki: RunningLoki, double: LokiDouble, case: Case, encoding: str
) -> None:
    case_id = f"{CASES.index(case)}-{encoding}"
    labels = {"service_name": "fidelity", "case": case_id}
    start = now_ns() - 10 * 1_000_000_000
    answers = []
    for push in case.build(labels):
        answers.append(
            (
                _send(real_loki.push_url, encoding, push, start),
                _send(double.url, encoding, push, start),
            )
        )

    for from_loki, from_double in answers:
        assert from_double.status_code == from_loki.status_code, from_loki.text
        assert _normalized(from_double.text) == _normalized(from_loki.text)
    assert _stored_in_double(double, case_id) == _stored_in_loki(real_loki, case_id, start)


def test_an_undecodable_body_is_refused_by_both(real_loki: RunningLoki, double: LokiDouble) -> None:
    for content_type in ("application/x-protobuf", "application/json"):
        headers = {"Content-Type": content_type}
        statuses = [
            httpx.post(url, content=b"not a push", headers=headers).status_code
            for url in (real_loki.push_url, double.url)
        ]
        assert statuses == [400, 400]
