"""The line parsers and timestamp readers on the odd inputs a user's logs can hold."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from sidecar.shipping import parsers, timestamps
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.parsers import (
    BAD_TIMESTAMP,
    NOT_DOCKER_JSON,
    UNKNOWN_LEVEL,
    DockerParser,
    JsonParser,
    TextParser,
    normalise_level,
    unwrap_docker,
)
from sidecar.shipping.timestamps import parse_epoch, parse_rfc3339, parse_with_format

# 2026-11-25T10:00:01Z
T = 1795600801_000_000_000


def _source(**extra: object) -> SourceConfig:
    return SourceConfig.model_validate(
        {"name": "app", "service_name": "app", "paths": ["/logs/*.log"], **extra}
    )


def test_level_cache_is_bounded_and_still_answers_when_full(monkeypatch):
    monkeypatch.setattr(parsers, "_LEVEL_CACHE", {})
    for n in range(1100):
        assert normalise_level(f"garbage-{n}") == UNKNOWN_LEVEL
    assert len(parsers._LEVEL_CACHE) == 1024
    # Past the bound a new spelling is still read right, just not remembered.
    assert normalise_level("WARN") == "warn"
    assert "WARN" not in parsers._LEVEL_CACHE


def test_one_usable_id_of_two_is_kept_as_metadata():
    parse = JsonParser(_source())
    parsed = parse('{"message": "m", "trace_id": 7, "span_id": "00f067aa0ba902b7"}')
    assert parsed.meta == (("span_id", "00f067aa0ba902b7"),)
    parsed = parse('{"message": "m", "trace_id": "4bf92f3577b34da6", "span_id": ""}')
    assert parsed.meta == (("trace_id", "4bf92f3577b34da6"),)
    too_long = "a" * (parsers.MAX_ID_LENGTH + 1)
    assert parse(f'{{"trace_id": "{too_long}", "span_id": {{}}}}').meta is None


@pytest.mark.parametrize(
    ("stamp", "ts", "malformed"),
    [
        ("1795600801", T, None),
        ("true", None, BAD_TIMESTAMP),
        ('["2026-11-25T10:00:01Z"]', None, BAD_TIMESTAMP),
        ('"yesterday"', None, BAD_TIMESTAMP),
        ("null", None, None),
    ],
)
def test_json_timestamp_field_of_any_type(stamp, ts, malformed):
    parsed = JsonParser(_source())(f'{{"timestamp": {stamp}, "level": "info"}}')
    assert (parsed.ts, parsed.malformed) == (ts, malformed)


def test_text_timestamp_that_does_not_parse_is_named_bad():
    parse = TextParser(
        _source(
            format="text",
            text={"timestamp_pattern": r"^(?P<timestamp>\S+)", "timestamp_format": "%Y-%m-%d"},
        )
    )
    assert parse("2026-11-25 ok").ts == 1795564800_000_000_000
    parsed = parse("2026-13-45 a thirteenth month")
    assert (parsed.ts, parsed.malformed) == (None, BAD_TIMESTAMP)


def test_text_level_pattern_that_does_not_match_leaves_level_unknown():
    parse = TextParser(_source(format="text", text={"level_pattern": r"\[(?P<level>\w+)\]"}))
    assert parse("[ERROR] disk").level == "error"
    assert parse("no brackets here").level == UNKNOWN_LEVEL


@pytest.mark.parametrize(
    "line",
    [
        "plain text, not JSON",
        '{"log": "x\\n", "stream": "stdout"}',  # no time
        '["log", "time"]',  # not an object
        '{"log": "x\\n", "time": 5}',  # time not a string
    ],
)
def test_a_line_that_is_not_a_docker_record_is_shipped_raw_and_named(line):
    assert unwrap_docker(line) is None
    parsed = DockerParser(_source(format="docker"))(line)
    assert (parsed.line, parsed.malformed) == (line, NOT_DOCKER_JSON)


def test_a_docker_record_whose_log_is_not_a_string_is_shipped_as_its_text():
    record = unwrap_docker('{"log": 42, "stream": "stdout", "time": "2026-11-25T10:00:01Z"}')
    assert record is not None
    assert (record.log, record.stream, record.time_ns) == ("42", "stdout", T)


def test_docker_inner_line_that_only_looks_like_json_is_read_as_text():
    line = '{"log": "{not json\\n", "stream": "stderr", "time": "2026-11-25T10:00:01Z"}'
    parsed = DockerParser(_source(format="docker"))(line)
    assert (parsed.line, parsed.ts, parsed.record, parsed.malformed) == ("{not json", T, None, None)


def test_docker_inner_json_keeps_its_own_timestamp_over_dockers():
    inner = '{\\"timestamp\\": \\"2026-11-25T10:00:02Z\\", \\"level\\": \\"warn\\"}'
    line = f'{{"log": "{inner}\\n", "stream": "stdout", "time": "2026-11-25T10:00:01Z"}}'
    parsed = DockerParser(_source(format="docker"))(line)
    assert (parsed.ts, parsed.level) == (T + 1_000_000_000, "warn")


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-45T10:00:01Z",  # no thirteenth month
        "2026-11-25T11:00:01+01:xx",  # offset minutes not digits
        "2026-11-25T10:00:01 UTC",  # a zone name, not an offset
    ],
)
def test_rfc3339_refuses_what_is_not_a_time(text):
    assert parse_rfc3339(text) is None


def test_rfc3339_falls_back_to_iso_forms_the_fast_path_does_not_read():
    # A seconds offset: not +hh:mm, still ISO 8601.
    assert parse_rfc3339("2026-11-25T11:00:01+01:00:00") == T


def test_the_second_prefix_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(timestamps, "_prefix_cache", {})
    monkeypatch.setattr(timestamps, "_PREFIX_CACHE_MAX", 2)
    for second in range(5):
        assert parse_rfc3339(f"2026-11-25T10:00:0{second}Z") == T + (second - 1) * 10**9
        assert len(timestamps._prefix_cache) <= 2


def test_an_offset_date_outside_lokis_range_is_none():
    assert parse_with_format("0001-01-01 00:00 +0100", "%Y-%m-%d %H:%M %z") is None
    assert parse_with_format("9999-12-31 23:59 -0100", "%Y-%m-%d %H:%M %z") is None
    assert timestamps.from_datetime(datetime(1970, 1, 1, 0, 0, 1)) == 10**9  # zone-less: UTC


def test_a_value_that_does_not_fit_the_format_is_none():
    assert parse_with_format("25/11/2026", "%Y-%m-%d") is None
    assert parse_with_format("2026-11-25", "%Y-%m-%d") == 1795564800_000_000_000


def test_epoch_microseconds_and_values_loki_cannot_store():
    assert parse_epoch(1795600801_000_001) == 1795600801_000_001_000
    assert parse_epoch(1795600801_000_000_001) == 1795600801_000_000_001
    assert parse_epoch(float("nan")) is None
    assert parse_epoch(float("inf")) is None
    assert parse_epoch(0) is None
    assert parse_epoch(2.0**64) is None  # past 2262


def test_the_allowed_root_of_a_glob_stops_at_its_first_wildcard_directory():
    assert _source(paths=["/var/log/*/app.log", "/srv/a.log"]).roots() == ["/srv", "/var/log"]
    assert _source(paths=["*.log"]).roots() == [os.path.realpath(".")]
