"""Writes deploy/kubernetes/ from the sources the compose stack runs on.

    python -m deploy.kubernetes.generator          # rewrite the generated manifests
    python -m deploy.kubernetes.generator --check  # exit 1 and name the stale files

Every rule, dashboard, datasource, monitor and Alertmanager route in the
Kubernetes manifests is read from prometheus/, grafana/ and alertmanager/ at
generation time, never copied by hand: the rules through prometheus/render.py, as
compose's stack-config service writes them, with the objectives and metrics targets
of the example overlay's services file (`overlay.py`). What only Kubernetes knows
(namespaces, release names, in-cluster URLs, alert link bases) is in `cluster.py`,
stated once. Needs the repository's .venv (render.py loads services files with the
sidecar's loader).
"""
