"""The Kubernetes manifests as kustomize renders them, and the validators they must pass."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import yaml

from tests.support import require_binary

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
BASE = DEPLOY / "base"
EXAMPLE = DEPLOY / "examples" / "sample-service"
CRD_DIR = REPO.parent / "shared" / "k8s" / "crds"
# Native sidecars (initContainers with restartPolicy: Always) are on by default from 1.29;
# the newest is the newest schema set the pinned kubernetes-validate carries (1.37).
OLDEST = "1.29"
SUPPORTED = sorted(
    {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()},
    key=lambda v: tuple(map(int, v.split("."))),
)
SUPPORTED = SUPPORTED[SUPPORTED.index(OLDEST) :]
NEWEST = SUPPORTED[-1]
KUBECTL_HOW = (
    "kubectl ships with this machine image (Debian package kubectl); its `kustomize` is built in"
)


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` (the kustomize built into kubectl): the objects it renders."""
    kubectl = require_binary("kubectl", KUBECTL_HOW)
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = by_kind(objects, kind)
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def is_operator_object(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].startswith("monitoring.coreos.com/")


def validate_core(obj: dict[str, Any], version: str) -> None:
    """Against the Kubernetes OpenAPI schema of `version`; strict: unknown fields fail."""
    kubernetes_validate.validate(obj, version, strict=True)


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused, as `kubectl apply` (--validate=strict) does.

    A structural schema leaves additionalProperties unset and the API server prunes
    unknown fields silently, so without this a misspelt field would pass.
    """
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of the CRD's openAPIV3Schema, for each served version."""
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = _strict(version["schema"]["openAPIV3Schema"])
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            validators[(f"{group}/{version['name']}", kind)] = cls(schema)
    return validators


def validate_operator_object(obj: dict[str, Any], version: str) -> None:
    """Spec against the operator's CRD; metadata against core ObjectMeta of `version`."""
    validators = crd_validators()
    key = (obj["apiVersion"], obj["kind"])
    assert key in validators, f"no CRD in {CRD_DIR} for {key}"
    validators[key].validate(obj)
    # The CRD schema says only `metadata: {type: object}`; ObjectMeta's own schema is core's.
    validate_core({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}, version)
