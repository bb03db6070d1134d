"""Each bad value of a log source or of the Loki block fails at load, naming its field."""

from __future__ import annotations

import pytest
import yaml

from sidecar.config import ConfigError, load_config

SOURCE = {"name": "app", "service_name": "app", "paths": ["/logs/*.log"]}


@pytest.mark.parametrize(
    ("source", "field", "words"),
    [
        (
            {"format": "text", "text": {"timestamp_pattern": "(unclosed"}},
            "text.timestamp_pattern",
            "not a valid regular expression",
        ),
        (
            {"format": "text", "text": {"level_pattern": r"\[(\w+)\]"}},
            "text.level_pattern",
            "(?P<level>...)",
        ),
        (
            {"format": "text", "text": {"timestamp_pattern": r"^(?P<ts>\S+)"}},
            "text.timestamp_pattern",
            "(?P<timestamp>...)",
        ),
        (
            {"format": "text", "multiline": {"start": "[unclosed"}},
            "multiline.start",
            "not a valid regular expression",
        ),
        (
            {"format": "text", "multiline": {"start": r"^\s*"}},
            "multiline.start",
            "matches an empty line",
        ),
        (
            {"format": "json", "multiline": {"start": r"^\d"}},
            "sources.0",
            "multiline joins lines of a `format: text` source",
        ),
        (
            {
                "format": "text",
                "multiline": {"start": r"^\d"},
                "access_log": {"format": "combined"},
            },
            "sources.0",
            "multiline and access_log exclude each other",
        ),
        ({"labels": {"1env": "prod"}}, "labels", "not a valid Loki label name"),
        ({"labels": {"__env": "prod"}}, "labels", "not a valid Loki label name"),
        ({"labels": {"service_name": "other"}}, "labels", "set by the sidecar"),
    ],
)
def test_a_bad_source_value_names_its_field(tmp_path, source, field, words):
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump({"sources": [{**SOURCE, **source}]}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert field in str(info.value)
    assert words in str(info.value)


def test_basic_auth_and_a_bearer_token_together_are_an_error(tmp_path):
    path = tmp_path / "sidecar.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "loki": {
                    "basic_auth": {"username": "u", "password": "p"},
                    "bearer_token": "t",
                }
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "loki.bearer_token" in str(info.value)
    assert "set either basic_auth or bearer_token, not both" in str(info.value)


def test_a_valid_text_source_loads():
    from sidecar.shipping.config import SourceConfig

    source = SourceConfig.model_validate(
        {
            **SOURCE,
            "format": "text",
            "text": {
                "level_pattern": r"(?P<level>\w+)",
                "timestamp_pattern": r"(?P<timestamp>\S+)",
            },
            "multiline": {"start": r"^\d"},
        }
    )
    assert source.multiline is not None
    assert source.multiline.start == r"^\d"
