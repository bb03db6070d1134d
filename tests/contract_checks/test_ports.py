"""The ports of the stack's own components, repeated where they must be, agree with the
contract (components.*.port in contract/telemetry.yaml).

A port has to be written into files no code generates: compose, the Dockerfiles,
prometheus.yml, the sidecar configs, the Kubernetes examples, the READMEs. Two checks
keep those copies equal to the contract:
- every file that names a component's port is listed below (COPIES), and every listed
  file names it: a change of the contract's port fails on each copy until it is
  changed, and a new copy fails until it is listed here;
- the configs that run are read structurally, so the number is checked in the place
  that counts (the container port, the scrape target, the healthcheck URL, ...).
Generated files (their generators read the contract; their staleness tests fail
first) and the same number meaning something else are listed apart.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from contract import current

REPO = Path(__file__).resolve().parents[2]
CONTRACT = current()
PORTS = {key: component.port for key, component in CONTRACT.components.items()}
SVC, SIDE, INBOX = "sample_service", "sidecar", "oncall"

# Hand-written files that repeat a port: file -> the components whose port it names.
COPIES: dict[str, set[str]] = {
    ".env.example": {SVC, SIDE, INBOX},
    "README.md": {SVC, SIDE, INBOX},
    "docker-compose.yml": {SVC, SIDE, INBOX},
    "services.yaml": {SVC},
    "compose/sidecar.yaml": {SIDE},
    "prometheus/prometheus.yml": {SIDE, INBOX},
    "prometheus/README.md": {SVC, SIDE, INBOX},
    "sample_service/Dockerfile": {SVC},
    "sample_service/README.md": {SVC},
    "sidecar/Dockerfile": {SIDE},
    "sidecar/README.md": {SIDE},
    "sidecar/config/sidecar.example.yaml": {SVC, SIDE},
    "sidecar/src/sidecar/health/README.md": {SVC},
    "oncall/Dockerfile": {INBOX},
    "oncall/README.md": {INBOX},
    "alertmanager/README.md": {INBOX},
    "alertmanager/render-config.sh": {INBOX},
    "docs/runbooks/README.md": {INBOX},
    "docs/runbooks/HealthCheckFailing.md": {SIDE},
    "docs/runbooks/LogShippingStalled.md": {SIDE},
    "docs/runbooks/ServicesFileRejected.md": {SIDE},
    "deploy/kubernetes/README.md": {SVC, INBOX},
    "deploy/kubernetes/examples/sample-service/deployment.yaml": {SVC, SIDE},
    "deploy/kubernetes/examples/sample-service/service.yaml": {SVC},
    "deploy/kubernetes/examples/sample-service/services.yaml": {SVC},
    "deploy/kubernetes/examples/sample-service/sidecar.yaml": {SIDE},
    # The benchmark's minimal app serves where the service would; its fake ASGI scope
    # names the same address.
    "bench/service_overhead/minimal_app.py": {SVC},
    "bench/service_overhead/in_process.py": {SVC},
}
# Written from the contract by a generator whose staleness test fails first.
GENERATED = {
    "contract/telemetry.yaml",
    "contract/README.md",
    "sample_service/src/sample_service/telemetry_contract.py",
    "oncall/src/oncall/telemetry_contract.py",
    "sidecar/src/sidecar/telemetry_contract.py",
    "grafana/dashboards/obs-stack.json",
    "deploy/kubernetes/base/grafana-dashboards.yaml",
    "deploy/kubernetes/base/prometheus-rules.yaml",
    "prometheus/rules/health.rules.yml",
    "prometheus/rules/logs.rules.yml",
    "prometheus/rules/slo.rules.yml",
    "prometheus/rules/stack.rules.yml",
}
# The same number, meaning another program's port.
UNRELATED = {
    "tempo/tempo.yaml": "Tempo's gRPC port (9095 by default), inside Tempo's container",
    "tempo/README.md": "Tempo's gRPC port",
}


def _number(port: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.]){port}(?![\w])")


def _tracked() -> list[str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # Tests choose their own ports and fixtures; a symlink is its target's copy.
    return [f for f in files if not re.match(r"(.*/)?tests/", f) and not (REPO / f).is_symlink()]


def _named(path: str) -> set[str]:
    try:
        text = (REPO / path).read_text()
    except (UnicodeDecodeError, FileNotFoundError):
        return set()
    return {key for key, port in PORTS.items() if _number(port).search(text)}


def test_every_file_naming_a_port_is_a_known_copy_and_names_it() -> None:
    found = {path: named for path in _tracked() if (named := _named(path))}
    unlisted = {
        p: sorted(n) for p, n in found.items() if p not in {*COPIES, *GENERATED, *UNRELATED}
    }
    assert unlisted == {}, "a new copy of a port: list it in COPIES (and check it below)"
    stale = {p: sorted(want - _named(p)) for p, want in COPIES.items() if want - _named(p)}
    assert stale == {}, "these copies no longer name the contract's port"
    extra = {p: sorted(_named(p) - want) for p, want in COPIES.items() if _named(p) - want}
    assert extra == {}


def test_the_scan_tells_a_port_from_a_longer_number() -> None:
    assert _number(9105).search("curl 127.0.0.1:9105/metrics")
    assert _number(8000).search("on port 8000.")
    assert not _number(8000).search("base = 1_795_600_800_000 or 18000 or 0.8000")


def _port_of(url: str) -> int | None:
    return urlsplit(url if "//" in url else f"http://{url}").port


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


@pytest.mark.parametrize(
    ("service", "component"), [("sample_service", SVC), ("sidecar", SIDE), (INBOX, INBOX)]
)
def test_compose_publishes_and_checks_the_contract_port(service: str, component: str) -> None:
    entry = _compose()["services"][service]
    port = PORTS[component]
    (mapping,) = entry["ports"]
    assert mapping.rsplit(":", 1)[1] == str(port)
    assert f":-{port}}}" in mapping, "the host side defaults to the same port"
    check = " ".join(entry["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health/" in check


def test_compose_wiring_names_the_contract_ports() -> None:
    services = _compose()["services"]
    assert services["sample_service"]["environment"]["PORT"] == str(PORTS[SVC])
    alertmanager = services["alertmanager"]["environment"]
    assert _port_of(alertmanager["INBOX_URL"]) == PORTS[INBOX]
    assert f"${{ONCALL_PORT:-{PORTS[INBOX]}}}" in alertmanager["INBOX_PUBLIC_URL"]
    links = services["stack-config"]["environment"]["RUNBOOK_BASE_URL"]
    assert f"${{ONCALL_PORT:-{PORTS[INBOX]}}}" in links


def test_env_example_defaults_are_the_contract_ports() -> None:
    values = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    )
    assert values["SAMPLE_SERVICE_PORT"] == str(PORTS[SVC])
    assert values["SIDECAR_PORT"] == str(PORTS[SIDE])
    assert values["ONCALL_PORT"] == str(PORTS[INBOX])


def test_prometheus_scrapes_the_contract_ports() -> None:
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["sidecar"]["static_configs"][0]["targets"] == [f"sidecar:{PORTS[SIDE]}"]
    assert jobs["oncall"]["static_configs"][0]["targets"] == [f"oncall:{PORTS[INBOX]}"]


@pytest.mark.parametrize(
    "path", ["services.yaml", "deploy/kubernetes/examples/sample-service/services.yaml"]
)
def test_services_files_reach_the_sample_service_on_its_port(path: str) -> None:
    (service,) = yaml.safe_load((REPO / path).read_text())["services"]
    addresses = [check["url"] for check in service["health"]] + [service["metrics"]["target"]]
    own = [address for address in addresses if "otel-collector" not in address]
    assert {_port_of(address) for address in own} == {PORTS[SVC]}


@pytest.mark.parametrize(
    "path",
    [
        "compose/sidecar.yaml",
        "sidecar/config/sidecar.example.yaml",
        "deploy/kubernetes/examples/sample-service/sidecar.yaml",
    ],
)
def test_sidecar_configs_serve_on_the_contract_port_and_probe_the_service_s(path: str) -> None:
    text = (REPO / path).read_text()
    config = yaml.safe_load(text)
    assert config["server"]["port"] == PORTS[SIDE]
    # The sample service's checks (the example file has them commented out).
    urls = [c["url"] for c in (config.get("health") or {}).get("checks", []) if "url" in c]
    urls += re.findall(r"#\s+url: (\S+)", text)
    sample = [url for url in urls if "otel-collector" not in url]
    # compose's and the Kubernetes example's checks come from their services files
    # (test_services_files_reach_the_sample_service_on_its_port); the example lists its own.
    if path == "sidecar/config/sidecar.example.yaml":
        assert sample, "no check of the sample service found"
    assert {_port_of(url) for url in sample} <= {PORTS[SVC]}


@pytest.mark.parametrize(
    ("folder", "component"), [("sample_service", SVC), ("sidecar", SIDE), (INBOX, INBOX)]
)
def test_dockerfiles_expose_and_check_the_contract_port(folder: str, component: str) -> None:
    text = (REPO / folder / "Dockerfile").read_text()
    port = PORTS[component]
    assert re.findall(r"^EXPOSE (\d+)$", text, re.M) == [str(port)]
    (check,) = re.findall(r"^\s+CMD \[.*health/\w+.*\]$", text, re.M)
    assert f"127.0.0.1:{port}/" in check or f"'{port}'" in check
    if component == SVC:
        assert re.search(rf"^\s+PORT={port} ", text, re.M)


def test_the_kubernetes_example_runs_both_on_the_contract_ports() -> None:
    example = REPO / "deploy/kubernetes/examples/sample-service"
    deployment = yaml.safe_load((example / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in [*pod.get("initContainers", []), *pod["containers"]]}
    sidecar_ports = {p["containerPort"] for p in containers["sidecar"]["ports"]}
    service = containers["sample-service"]
    assert (sidecar_ports, {p["containerPort"] for p in service["ports"]}) == (
        {PORTS[SIDE]},
        {PORTS[SVC]},
    )
    assert {e["name"]: e["value"] for e in service["env"]}["PORT"] == str(PORTS[SVC])
    (port,) = yaml.safe_load((example / "service.yaml").read_text())["spec"]["ports"]
    assert port["port"] == PORTS[SVC]
