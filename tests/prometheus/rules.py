"""Read the committed Prometheus rules and promtool tests; render what Prometheus loads."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from sidecar.services.loader import load

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"


def _script(name: str) -> ModuleType:
    """prometheus/<name>.py as a module (prometheus/ is scripts, not a package; under
    pytest the name `prometheus` is this test package)."""
    spec = importlib.util.spec_from_file_location(
        f"prometheus_{name}", PROMETHEUS_DIR / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _script("generate")
render = _script("render")
RULES_DIR = PROMETHEUS_DIR / "rules"
PROMTOOL_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
SERVICES_FILE = REPO / "services.yaml"
TEST_SERVICES_FILE = PROMETHEUS_DIR / "tests" / "services.yaml"
TEST_OBJECTIVES = PROMETHEUS_DIR / "tests" / "services.rules.yml"


def all_rules() -> list[dict[str, Any]]:
    rules = []
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def alert_names() -> list[str]:
    return sorted({rule["alert"] for rule in alert_rules()})


def promtool_alert_cases() -> list[dict[str, Any]]:
    """Every alert_rule_test entry of every promtool test file."""
    cases = []
    for path in PROMTOOL_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def rendered(
    services_file: Path = SERVICES_FILE,
    runbook_base: str = generate.DEFAULT_RUNBOOK_BASE_URL,
    grafana_url: str = generate.DEFAULT_GRAFANA_URL,
) -> dict[str, str]:
    """What the stack-config service writes for `services_file`, by relative path."""
    return render.render(
        load(services_file), services_file.name, RULES_DIR, runbook_base, grafana_url
    )


def prometheus_dir(directory: Path, services_file: Path = SERVICES_FILE) -> Path:
    """`directory` laid out as the container's /etc/prometheus: prometheus.yml beside
    the stack-config output it reads. Returns the config file's path."""
    render.write(directory / "stack-config", rendered(services_file))
    shutil.copy(PROMETHEUS_DIR / "prometheus.yml", directory / "prometheus.yml")
    return directory / "prometheus.yml"


def promtool_objectives_text() -> str:
    """The objectives file the promtool tests include, as render.py writes it."""
    files = render.render(
        load(TEST_SERVICES_FILE),
        "prometheus/tests/services.yaml",
        RULES_DIR,
        generate.DEFAULT_RUNBOOK_BASE_URL,
        generate.DEFAULT_GRAFANA_URL,
    )
    return files[render.OBJECTIVES_FILE]


if __name__ == "__main__":
    # Rewrites prometheus/tests/services.rules.yml after prometheus/tests/services.yaml changed.
    TEST_OBJECTIVES.write_text(promtool_objectives_text())
    print(f"wrote {TEST_OBJECTIVES}")
