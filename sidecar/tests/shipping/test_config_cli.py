"""Config loading, env overrides, and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sidecar.example.yaml"


def _check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_example_config_is_valid():
    result = _check(EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_check_config_names_the_bad_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "loki: {batch_max_bytes: 10}\n"
        "sources:\n  - {name: app, service_name: s, paths: [x], labels: {level: debug}}\n"
    )
    result = _check(bad)
    assert result.returncode != 0
    assert "loki.batch_max_bytes" in result.stderr
    assert "sources.0.labels" in result.stderr


def test_unknown_keys_and_bad_regex_are_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "lokii: {}\nsources:\n  - name: a\n    service_name: s\n    paths: [x]\n"
        "    format: text\n    text: {level_pattern: '(unclosed'}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "lokii" in str(info.value)
    assert "sources.0.text.level_pattern" in str(info.value)


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("server: {port: 9000}\nloki: {url: 'http://file:3100/loki/api/v1/push'}\n")
    monkeypatch.setenv("SIDECAR_LOKI__URL", "http://env:3100/loki/api/v1/push")
    monkeypatch.setenv("SIDECAR_SERVER__HOST", "0.0.0.0")
    config = load_config(path)
    assert config.loki.url == "http://env:3100/loki/api/v1/push"
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9000


def test_defaults_are_the_documented_ones(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    config = load_config(path)
    assert (config.server.host, config.server.port) == ("127.0.0.1", 9105)
    assert config.loki.batch_max_bytes == 1 << 20
    assert config.loki.batch_max_wait_seconds == 1.0
    assert config.loki.encoding == "protobuf"
    assert config.shipping.buffer_max_bytes == 24 << 20
    assert config.shipping.isolation == "process"
    assert config.shipping.unready_restart_seconds == 60
    assert config.shipping.max_line_bytes == 256 << 10
    assert config.shipping.scan_interval_seconds <= 1.0


def test_a_restart_limit_shorter_than_the_drain_deadline_is_an_error(tmp_path):
    path = tmp_path / "sidecar.yaml"
    path.write_text("shipping: {shutdown_deadline_seconds: 30, unready_restart_seconds: 20}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "unready_restart_seconds" in str(info.value)
    assert "shutdown_deadline_seconds" in str(info.value)


def test_the_shipping_process_gets_the_configuration_the_main_one_validated(tmp_path):
    """Secrets and paths included, and nothing on the command line."""
    from sidecar.shipping.handover import ChildConfig

    path = tmp_path / "sidecar.yaml"
    path.write_text(
        "loki: {bearer_token: s3cret-token}\n"
        f"shipping: {{positions_file: {tmp_path}/p.json}}\n"
        f"sources: [{{name: a, service_name: s, paths: ['{tmp_path}/*.log']}}]\n"
    )
    config = load_config(path)
    child = ChildConfig(
        log_level=config.log_level,
        loki=config.loki,
        shipping=config.shipping,
        sources=config.sources,
    )
    again = ChildConfig.model_validate_json(child.encode())
    assert again == child
    assert again.loki.bearer_token is not None
    assert again.loki.bearer_token.get_secret_value() == "s3cret-token"
