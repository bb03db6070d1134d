"""promtool: the configuration and rules load, and every alert's unit tests pass."""

from __future__ import annotations

import subprocess

from tests.prometheus.rules import PROMETHEUS_DIR, PROMTOOL_TESTS, RULES_DIR
from tests.support import require_binary


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=PROMETHEUS_DIR, check=False
    )


def test_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # The glob in rule_files picks up every generated and hand-written file.
    assert f"{len(list(RULES_DIR.glob('*.rules.yml')))} rule files found" in result.stdout


def test_check_rules() -> None:
    files = sorted(str(path) for path in RULES_DIR.glob("*.rules.yml"))
    result = promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests() -> None:
    assert PROMTOOL_TESTS, "no promtool tests found"
    result = promtool("test", "rules", *(str(path) for path in PROMTOOL_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
