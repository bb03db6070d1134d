"""PrometheusRule objects: the rule files Prometheus loads in compose, as render.py writes them.

In compose, the stack-config service runs prometheus/render.py at every `up`: it writes
the committed prometheus/rules/*.rules.yml with the stack's alert links, and
services.rules.yml with the objectives of the services file; prometheus.yml's
`rule_files` load them from the stack-config volume. Here the same functions of
render.py write the same documents, with the cluster's link bases (`cluster.py`), and
prometheus.yml's own `rule_files` patterns choose among them, so a file Prometheus
would not load is not carried either. The committed rules, the same for every service,
go to the base; the objectives of an overlay's services file go to that overlay.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from deploy.kubernetes.generator import cluster, sources

# Where a PrometheusRule came from, so a test can write its groups back to that file name
# and run the promtool unit tests of prometheus/tests/ against them.
SOURCE_ANNOTATION = "obs-stack/source"
OBJECTIVES_RULE = "obs-stack-objectives"


def rule_name(file_name: str) -> str:
    stem = file_name.removesuffix(".yml").removesuffix(".yaml").removesuffix(".rules")
    return f"obs-stack-{stem.replace('_', '-').replace('.', '-')}"


def link_bases() -> tuple[str, str]:
    """(runbook base, Grafana URL) from cluster.py, checked as render.py checks compose's."""
    render = sources.prometheus_render()
    try:
        return (
            render.link_base("cluster.RUNBOOK_BASE_URL", cluster.RUNBOOK_BASE_URL),
            render.link_base("cluster.GRAFANA_URL", cluster.GRAFANA_URL),
        )
    except render.SettingError as exc:
        raise sources.SourceError(f"deploy/kubernetes/generator/cluster.py: {exc}") from None


def _matches(path: PurePosixPath, pattern: str) -> bool:
    # Prometheus expands rule_files with filepath.Glob: `*` never crosses a `/`.
    parts, wanted = path.parts, PurePosixPath(pattern).parts
    return len(parts) == len(wanted) and all(map(fnmatchcase, parts, wanted))


def loaded_rule_files(services: Any) -> dict[str, dict[str, Any]]:
    """Relative path (in render.py's output) -> rule document, for every rule file
    render.py writes for `services` that prometheus.yml's rule_files load."""
    render = sources.prometheus_render()
    runbook_base, grafana_url = link_bases()
    documents = render.rule_files(services, sources.PROMETHEUS_RULES, runbook_base, grafana_url)
    mount = sources.stack_config_mount()
    loaded: dict[str, dict[str, Any]] = {}
    for pattern in sources.rule_file_patterns():
        matches = [path for path in documents if _matches(mount / path, pattern)]
        if not matches:
            raise sources.SourceError(
                f"{sources.PROMETHEUS_CONFIG}: rule_files entry {pattern!r} matches no file"
                f" that prometheus/render.py writes into {mount}/"
            )
        loaded.update((path, documents[path]) for path in matches)
    return loaded


def _prometheus_rule(
    name: str, namespace: str, source: str, document: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**cluster.PART_OF, **cluster.PROMETHEUS_SELECTOR_LABELS},
            "annotations": {SOURCE_ANNOTATION: source},
        },
        "spec": {"groups": document["groups"]},
    }


def prometheus_rules() -> list[dict[str, Any]]:
    """The base: one PrometheusRule per committed rule file that Prometheus loads."""
    render = sources.prometheus_render()
    rules = []
    for path, document in loaded_rule_files(render.ServicesFile()).items():
        if path == render.OBJECTIVES_FILE:
            continue
        name = PurePosixPath(path).name
        source = str((sources.PROMETHEUS_RULES / name).relative_to(sources.REPO))
        rules.append(
            _prometheus_rule(rule_name(name), cluster.MONITORING_NAMESPACE, source, document)
        )
    return rules


def objectives_rule(services_file: Path, namespace: str) -> list[dict[str, Any]]:
    """An overlay's PrometheusRule with the objectives of its services file (none if
    prometheus.yml does not load render.py's objectives file)."""
    render = sources.prometheus_render()
    document = loaded_rule_files(sources.load_services(services_file)).get(render.OBJECTIVES_FILE)
    if document is None:
        return []
    source = str(services_file.relative_to(sources.REPO))
    return [_prometheus_rule(OBJECTIVES_RULE, namespace, source, document)]
