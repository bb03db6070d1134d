"""The example overlay (examples/sample-service): its services file and its own Services.

On Kubernetes, as in compose, a services file lists the services the stack watches,
and an overlay keeps its own beside its workloads: their SLO objectives become the
overlay's PrometheusRule, their `metrics:` targets its ServiceMonitors. A target is
the cluster address of a Service this overlay defines, which gives the ServiceMonitor
the Service's labels and port name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.kubernetes.generator import sources

# Relative to deploy/kubernetes/.
NAME = "examples/sample-service"
DIRECTORY = Path(__file__).resolve().parents[1] / NAME
SERVICES_FILE = DIRECTORY / "services.yaml"


def kubernetes_services() -> list[dict[str, Any]]:
    """The Service objects in the files the overlay's kustomization lists."""
    kustomization = sources.load_yaml(DIRECTORY / "kustomization.yaml")
    found: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = DIRECTORY / entry
        if not path.is_file():  # the base, or a generated file not written yet
            continue
        documents = sources.load_yaml_documents(path)
        found.extend(doc for doc in documents if doc.get("kind") == "Service")
    return found
