"""Every rendered object against its schema, offline.

Core objects: the Kubernetes OpenAPI schemas (kubernetes-validate) of every supported
version, 1.29 (native sidecars on by default) to the newest the pinned package carries.
Prometheus Operator objects: the v0.93.0 CRDs in ../shared/k8s/crds (jsonschema).
Both refuse unknown fields, as `kubectl apply` does by default.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.kubernetes.manifests import (
    BASE,
    EXAMPLE,
    NEWEST,
    OLDEST,
    SUPPORTED,
    is_operator_object,
    kustomize,
    one,
    validate_core,
    validate_operator_object,
)


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(EXAMPLE)


def _ids(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]


def test_base_renders_alone_and_is_part_of_the_example(rendered: list[dict[str, Any]]) -> None:
    base = kustomize(BASE)
    assert base, "the base renders no object"
    assert set(_ids(base)) <= set(_ids(rendered))


@pytest.mark.parametrize("version", SUPPORTED)
def test_core_objects_match_the_kubernetes_schema(
    rendered: list[dict[str, Any]], version: str
) -> None:
    core = [obj for obj in rendered if not is_operator_object(obj)]
    assert {obj["kind"] for obj in core} == {"Namespace", "ConfigMap", "Service", "Deployment"}
    for obj in core:
        validate_core(obj, version)


@pytest.mark.parametrize("version", SUPPORTED)
def test_operator_objects_match_the_crds(rendered: list[dict[str, Any]], version: str) -> None:
    operator = [obj for obj in rendered if is_operator_object(obj)]
    assert {obj["kind"] for obj in operator} == {"PrometheusRule", "ServiceMonitor", "PodMonitor"}
    for obj in operator:
        validate_operator_object(obj, version)


# The validators can fail: each mutation below is a mistake they must catch.
def test_core_validation_refuses_a_misspelt_field(rendered: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    sidecar = deployment["spec"]["template"]["spec"]["initContainers"][0]
    sidecar["restartPolicyy"] = sidecar.pop("restartPolicy")
    with pytest.raises(kubernetes_validate.ValidationError, match="restartPolicyy"):
        validate_core(deployment, OLDEST)


def test_core_validation_refuses_a_wrong_type(rendered: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    deployment["spec"]["template"]["metadata"]["labels"]["obs-stack/sidecar"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(deployment, NEWEST)


def test_crd_validation_refuses_a_misspelt_field(rendered: list[dict[str, Any]]) -> None:
    monitor = copy.deepcopy(one(rendered, "PodMonitor"))
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    endpoint["honorlabels"] = endpoint.pop("honorLabels")
    with pytest.raises(jsonschema.ValidationError, match="honorlabels"):
        validate_operator_object(monitor, NEWEST)


def test_crd_validation_refuses_a_rule_without_expr(rendered: list[dict[str, Any]]) -> None:
    rule = copy.deepcopy(next(obj for obj in rendered if obj["kind"] == "PrometheusRule"))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    with pytest.raises(jsonschema.ValidationError, match="expr"):
        validate_operator_object(rule, NEWEST)


def test_every_object_fits_a_client_side_apply(rendered: list[dict[str, Any]]) -> None:
    # `kubectl apply` keeps the whole object in the last-applied-configuration annotation,
    # and all annotations of an object together are limited to 256 KiB (etcd's 1.5 MiB
    # object limit comes later). A dashboard that grows past that needs --server-side.
    for obj in rendered:
        size = len(json.dumps(obj, separators=(",", ":")))
        assert size < 256 * 1024, (obj["kind"], obj["metadata"]["name"], size)
