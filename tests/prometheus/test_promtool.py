"""promtool: the configuration and rules load, and every alert's unit tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.prometheus.rules import (
    PROMTOOL_TESTS,
    RULES_DIR,
    TEST_OBJECTIVES,
    prometheus_dir,
    promtool_objectives_text,
)
from tests.support import require_binary


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_check_config_with_what_stack_config_renders(tmp_path: Path) -> None:
    config = prometheus_dir(tmp_path)
    result = promtool("check", "config", config.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every committed rule file, plus the objectives of the services file.
    assert f"{len(list(RULES_DIR.glob('*.rules.yml'))) + 1} rule files found" in result.stdout


def test_check_rules() -> None:
    files = sorted(str(path) for path in RULES_DIR.glob("*.rules.yml"))
    result = promtool("check", "rules", *files, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_tests_read_current_rendered_objectives() -> None:
    assert TEST_OBJECTIVES.read_text() == promtool_objectives_text(), (
        "prometheus/tests/services.rules.yml is stale: run "
        ".venv/bin/python -m tests.prometheus.rules"
    )


def test_rule_unit_tests() -> None:
    assert PROMTOOL_TESTS, "no promtool tests found"
    result = promtool(
        "test", "rules", *(str(path) for path in PROMTOOL_TESTS), cwd=RULES_DIR.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
