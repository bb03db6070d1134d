"""Writes deploy/kubernetes/ from the sources the compose stack runs on.

    python -m deploy.kubernetes.generator          # rewrite the generated manifests
    python -m deploy.kubernetes.generator --check  # exit 1 and name the stale files

Every rule, dashboard, datasource, monitor and Alertmanager route in the
Kubernetes manifests is read from prometheus/, grafana/ and alertmanager/ at
generation time, never copied by hand; what only Kubernetes knows (namespaces,
release names, in-cluster URLs) is in `cluster.py`, stated once.
"""
