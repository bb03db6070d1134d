"""The sample service's pod with the sidecar, as rendered: a native sidecar, hardened,
probed on its own endpoints, its config accepted by the sidecar's own loader and
consistent with the pod it runs in."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sidecar.services.derive import with_services
from sidecar.services.loader import load as load_services

from deploy.kubernetes.generator import cluster
from sidecar.config import SidecarConfig, load_config
from tests.kubernetes.manifests import EXAMPLE, REPO, by_kind, kustomize, one

SIDECAR_CONFIG_KEY = "sidecar.yaml"
SERVICES_KEY = "services.yaml"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(EXAMPLE)


@pytest.fixture(scope="module")
def pod(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return one(rendered, "Deployment")["spec"]["template"]


def _sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    (sidecar,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "sidecar"]
    return sidecar


def _service(pod: dict[str, Any]) -> dict[str, Any]:
    (service,) = pod["spec"]["containers"]
    return service


def _sidecar_config_map(rendered: list[dict[str, Any]], pod: dict[str, Any]) -> dict[str, Any]:
    (volume,) = [
        v for v in pod["spec"]["volumes"] if "configMap" in v and v["name"] == "sidecar-config"
    ]
    name = volume["configMap"]["name"]
    (config_map,) = [cm for cm in by_kind(rendered, "ConfigMap") if cm["metadata"]["name"] == name]
    return config_map


@pytest.fixture(scope="module")
def sidecar_config_file(
    rendered: list[dict[str, Any]], pod: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The ConfigMap's files, as the pod mounts them, in a directory of their own."""
    directory = tmp_path_factory.mktemp("sidecar")
    for key, text in _sidecar_config_map(rendered, pod)["data"].items():
        (directory / key).write_text(text)
    return directory / SIDECAR_CONFIG_KEY


def _here(config_file: Path) -> dict[str, str]:
    """The environment that points the config's services file at the copy beside it
    (the sidecar's own SIDECAR_<SECTION>__<KEY> override)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    return {**env, "SIDECAR_SERVICES_FILE__PATH": str(config_file.parent / SERVICES_KEY)}


def _effective(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> SidecarConfig:
    """The config the sidecar runs: its file plus the sources and checks of its service."""
    monkeypatch.setenv("SIDECAR_SERVICES_FILE__PATH", str(config_file.parent / SERVICES_KEY))
    config = load_config(config_file)
    assert config.services_file is not None
    return with_services(config, load_services(config.services_file.path), "services.yaml")


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def _mount(container: dict[str, Any], volume: str) -> dict[str, Any]:
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    return mount


def _port(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return port


def test_sidecar_is_a_native_sidecar_container(pod: dict[str, Any]) -> None:
    sidecar = _sidecar(pod)
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"][-2:] == ["--config", "/etc/sidecar/sidecar.yaml"]


def test_sidecar_config_passes_the_sidecar_check_config(sidecar_config_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "check-config", "--config", str(sidecar_config_file)],
        capture_output=True,
        text=True,
        env=_here(sidecar_config_file),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(1 sources, 2 checks)" in result.stdout


def test_the_sidecar_reads_the_overlay_s_services_file_beside_its_config(
    pod: dict[str, Any], sidecar_config_file: Path
) -> None:
    config = load_config(sidecar_config_file)
    assert config.services_file is not None
    mounted = _mount(_sidecar(pod), "sidecar-config")["mountPath"]
    assert config.services_file.path == Path(mounted) / SERVICES_KEY
    # The ConfigMap carries the overlay's services file as it is in the repository.
    assert (sidecar_config_file.parent / SERVICES_KEY).read_text() == (
        EXAMPLE / SERVICES_KEY
    ).read_text()
    # It watches its own pod's service only.
    assert config.services_file.services == [_env(_service(pod))["SERVICE_NAME"]]


def test_check_config_would_catch_a_renamed_key(sidecar_config_file: Path, tmp_path: Path) -> None:
    # A config key the sidecar no longer knows fails the check, naming the field.
    broken = tmp_path / "sidecar.yaml"
    broken.write_text(sidecar_config_file.read_text().replace("tenant_id:", "tenant:"))
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "check-config", "--config", str(broken)],
        capture_output=True,
        text=True,
        env=_here(sidecar_config_file),
        check=False,
    )
    assert result.returncode == 2
    assert "loki.tenant" in result.stderr


def test_sidecar_config_fits_the_pod(
    pod: dict[str, Any], sidecar_config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _effective(sidecar_config_file, monkeypatch)
    assert config.sources
    assert config.health.checks
    sidecar, service = _sidecar(pod), _service(pod)
    logs = _mount(sidecar, "logs")["mountPath"]
    assert _mount(service, "logs")["mountPath"] == logs
    assert _env(service)["LOG_FILE"].startswith(logs + "/")
    for source in config.sources:
        for pattern in source.paths:
            assert pattern.startswith(logs + "/"), pattern
        assert source.service_name == _env(service)["SERVICE_NAME"]
    # Positions on the same emptyDir, writable by the sidecar, outside its globs.
    assert str(config.shipping.positions_file).startswith(logs + "/")
    assert not _mount(sidecar, "logs").get("readOnly", False)
    assert config.server.host == "0.0.0.0"
    assert config.server.port == _port(sidecar, cluster.SIDECAR_PORT_NAME)
    for check in config.health.checks:
        url = urlsplit(str(check.url))
        assert (url.hostname, url.port) == ("127.0.0.1", _port(service, "http"))
        assert check.service_name == _env(service)["SERVICE_NAME"]


def test_sidecar_ships_to_the_cluster_loki_with_the_datasource_tenant(
    sidecar_config_file: Path,
) -> None:
    config = load_config(sidecar_config_file)
    assert config.loki.url == cluster.LOKI_PUSH_URL
    assert config.loki.tenant_id == cluster.LOKI_TENANT


def test_service_exports_traces_to_the_cluster_tempo(pod: dict[str, Any]) -> None:
    assert _env(_service(pod))["OTEL_EXPORTER_OTLP_ENDPOINT"] == cluster.TEMPO_OTLP_HTTP_URL


def test_log_volume_is_one_shared_bounded_empty_dir(pod: dict[str, Any]) -> None:
    (logs,) = [v for v in pod["spec"]["volumes"] if v["name"] == "logs"]
    assert "sizeLimit" in logs["emptyDir"]
    assert logs["emptyDir"].get("medium", "") == ""  # on disk: survives container restarts


def test_config_comes_from_a_config_map(
    rendered: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    config_map = _sidecar_config_map(rendered, pod)
    assert set(config_map["data"]) == {SIDECAR_CONFIG_KEY, SERVICES_KEY}
    assert _mount(_sidecar(pod), "sidecar-config") == {
        "name": "sidecar-config",
        "mountPath": "/etc/sidecar",
        "readOnly": True,
    }


def test_sidecar_probes_its_own_endpoints(pod: dict[str, Any]) -> None:
    sidecar = _sidecar(pod)
    port = cluster.SIDECAR_PORT_NAME
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port}
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": port}
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/health/live", "port": port}


@pytest.mark.parametrize("container", ["sidecar", "sample-service"])
def test_containers_are_hardened_and_bounded(pod: dict[str, Any], container: str) -> None:
    (spec,) = [
        c
        for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
        if c["name"] == container
    ]
    assert spec["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind]), kind
    assert "livenessProbe" in spec
    assert "readinessProbe" in spec


def test_pod_meets_the_restricted_pod_security_standard(
    rendered: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    namespace = one(rendered, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for volume in pod["spec"]["volumes"]:
        assert set(volume) - {"name"} <= {"emptyDir", "configMap"}, volume
    assert pod["spec"]["automountServiceAccountToken"] is False


def _compose_image(service: str) -> str:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return compose["services"][service]["image"]


def test_images_are_the_ones_compose_builds(pod: dict[str, Any]) -> None:
    assert _sidecar(pod)["image"] == _compose_image("sidecar")
    assert _service(pod)["image"] == _compose_image("sample_service")


def test_grace_period_covers_both_shutdowns(pod: dict[str, Any], sidecar_config_file: Path) -> None:
    gunicorn_conf = REPO / "sample_service" / "src" / "sample_service" / "gunicorn_conf.py"
    (graceful,) = [
        node.value.value
        for node in ast.parse(gunicorn_conf.read_text()).body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["graceful_timeout"]
    ]
    pre_stop = _sidecar(pod)["lifecycle"]["preStop"]["exec"]["command"]
    (sleep,) = re.findall(r"time\.sleep\((\d+)\)", pre_stop[-1])
    flush = load_config(sidecar_config_file).shipping.shutdown_deadline_seconds
    assert pod["spec"]["terminationGracePeriodSeconds"] > graceful + int(sleep) + flush


def test_monitors_select_what_the_pod_exposes(
    rendered: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    labels = pod["metadata"]["labels"]
    pod_monitor = one(rendered, "PodMonitor")
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    _port(_sidecar(pod), endpoint["port"])

    service = one(rendered, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    service_monitor = one(rendered, "ServiceMonitor")
    assert service_monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert (
        service_monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    )
    (endpoint,) = service_monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["targetPort"] == "http"
    _port(_service(pod), "http")
