"""The Kustomize layout without kustomize: every path a kustomization names resolves, and a
plain-Python reading of base + overlay yields the objects `kubectl kustomize` renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.kubernetes.generator import overlay
from tests.kubernetes.manifests import BASE, DEPLOY, EXAMPLE, kustomize, load_documents


def _kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def python_render(directory: Path) -> list[dict[str, Any]]:
    """resources (files and directories, recursively) and configMapGenerator entries.

    The only kustomize features the layout uses; a generated ConfigMap's name is left
    without kustomize's content hash.
    """
    kustomization = _kustomization(directory)
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "configMapGenerator"}, (
        "the layout uses a kustomize feature this reading does not model"
    )
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects.extend(python_render(path) if path.is_dir() else load_documents(path))
    for generator in kustomization.get("configMapGenerator", []):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"], "namespace": generator["namespace"]},
                "data": {name: (directory / name).read_text() for name in generator["files"]},
            }
        )
    return objects


def test_every_kustomization_path_resolves() -> None:
    for directory in (BASE, EXAMPLE):
        kustomization = _kustomization(directory)
        for entry in kustomization.get("resources", []):
            path = (directory / entry).resolve()
            assert path.is_file() or (path / "kustomization.yaml").is_file(), (directory, entry)
            assert path.is_relative_to(DEPLOY), entry
        for generator in kustomization.get("configMapGenerator", []):
            for name in generator["files"]:
                assert (directory / name).is_file(), (directory, name)


def test_every_manifest_in_the_layout_is_used() -> None:
    # A manifest left out of every kustomization would never be applied. The example's
    # services file is no manifest: the generator reads it (tests/kubernetes/test_services.py),
    # and the sidecar too, from the ConfigMap, beside its own config.
    resources = {
        (directory / entry).resolve()
        for directory in (BASE, EXAMPLE)
        for entry in _kustomization(directory).get("resources", [])
    }
    config_files = {
        (EXAMPLE / name).resolve()
        for generator in _kustomization(EXAMPLE).get("configMapGenerator", [])
        for name in generator["files"]
    }
    assert not resources & config_files
    assert overlay.SERVICES_FILE.resolve() in config_files
    for directory in (BASE, EXAMPLE):
        for path in directory.glob("*.yaml"):
            if path.name != "kustomization.yaml":
                assert path.resolve() in resources | config_files, path


def _without_hash(name: str, generated: set[str]) -> str:
    stem = name.rsplit("-", 1)[0]
    return stem if stem in generated else name


def test_python_reading_matches_kubectl_kustomize() -> None:
    expected = python_render(EXAMPLE)
    rendered = kustomize(EXAMPLE)
    # kustomize appends a content hash to a generated ConfigMap's name, and to the
    # volumes that refer to it: undo both to compare.
    generated = {g["name"] for g in _kustomization(EXAMPLE)["configMapGenerator"]}
    for obj in rendered:
        if obj["kind"] == "ConfigMap":
            obj["metadata"]["name"] = _without_hash(obj["metadata"]["name"], generated)
        if obj["kind"] == "Deployment":
            for volume in obj["spec"]["template"]["spec"]["volumes"]:
                if "configMap" in volume:
                    ref = volume["configMap"]
                    ref["name"] = _without_hash(ref["name"], generated)
    assert sorted(map(_identity, rendered)) == sorted(map(_identity, expected))
    by_identity = {_identity(obj): obj for obj in rendered}
    for obj in expected:
        got = by_identity[_identity(obj)]
        assert got.get("data") == obj.get("data"), _identity(obj)
        assert got.get("spec") == obj.get("spec"), _identity(obj)
