"""Running `docker compose` from the tests: engine checks, isolated environments, teardown."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import require_binary

REPO = Path(__file__).resolve().parents[2]
DOCKER_HOW = "bash ../shared/env/docker-engine"
BASE_IMAGES = (
    "python:3.13-slim",
    "prom/prometheus:v3.5.3",
    "prom/alertmanager:v0.33.1",
    "grafana/loki:3.7.7",
    "grafana/tempo:3.0.3",
)
IMAGES_HOW = "bash ../shared/env/offline-images " + " ".join(BASE_IMAGES)
# Only what docker itself needs passes through: the compose files must get every
# variable they read from the test, never from the developer's shell or .env.
PASSTHROUGH = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "TMPDIR")


def require_docker() -> str:
    """The docker binary, or a skip (a failure under OBS_STRICT=1) saying how to get an engine."""
    docker = require_binary("docker", how=DOCKER_HOW)
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        compose = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"the Docker engine does not answer; start it with: {DOCKER_HOW}")
    if info.returncode != 0:
        pytest.skip(f"the Docker engine does not answer ({info.stderr.strip()}); {DOCKER_HOW}")
    if compose.returncode != 0:
        pytest.skip(f"docker compose v2 is missing; install it with: {DOCKER_HOW}")
    return docker


def require_images(docker: str, *images: str) -> None:
    """Skip unless every image is present locally (no registry is reachable to pull it)."""
    missing = [
        image
        for image in images
        if subprocess.run(
            [docker, "image", "inspect", image], capture_output=True, timeout=30
        ).returncode
        != 0
    ]
    if missing:
        pytest.skip(f"images {missing} are not present locally; build them with: {IMAGES_HOW}")


def isolated_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    env.update(extra)
    return env


@dataclass
class Compose:
    """One compose project with a unique name, its files and its environment."""

    docker: str
    files: Sequence[str]
    env: dict[str, str]
    project: str = field(default_factory=lambda: f"obs-test-{uuid.uuid4().hex[:10]}")
    env_file: Path | None = None

    def command(self, *args: str) -> list[str]:
        cmd = [self.docker, "compose", "-p", self.project, "--project-directory", str(REPO)]
        # An explicit (empty) env file: a developer's .env must not leak into the test.
        if self.env_file is not None:
            cmd += ["--env-file", str(self.env_file)]
        for file in self.files:
            cmd += ["-f", str(REPO / file)]
        return [*cmd, *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=timeout,
        )

    def config(self) -> dict[str, Any]:
        result = self.run("config", "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks still labelled with this project."""
        label = f"label=com.docker.compose.project={self.project}"
        found: dict[str, list[str]] = {}
        for kind, args in (
            ("containers", ["ps", "-a", "-q", "--filter", label]),
            ("volumes", ["volume", "ls", "-q", "--filter", label]),
            ("networks", ["network", "ls", "-q", "--filter", label]),
        ):
            out = subprocess.run(
                [self.docker, *args], capture_output=True, text=True, timeout=30
            ).stdout.split()
            if out:
                found[kind] = out
        return found

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.run("down", "-v", "--remove-orphans", "--timeout", "10", timeout=180)

    def diagnostics(self) -> str:
        """`ps -a` and the tail of every container's log, for a failure message."""
        ps = self.run("ps", "-a").stdout
        logs = self.run("logs", "--no-color", "--tail", "40").stdout
        return f"{ps}\n{logs[-6000:]}"


def project(
    workdir: Path, files: Sequence[str], settings: Mapping[str, str], *, runs: bool = False
) -> Compose:
    """A compose project that sees only `settings`: no variable of the developer's shell, an
    empty env file instead of their .env. Skips (fails under OBS_STRICT=1) without an engine,
    and, when it `runs` containers, without the base images."""
    docker = require_docker()
    if runs:
        require_images(docker, *BASE_IMAGES)
    return Compose(
        docker=docker, files=files, env=isolated_env(settings), env_file=empty_env_file(workdir)
    )


@contextmanager
def running(compose: Compose, services: Sequence[str]) -> Iterator[float]:
    """`up --build --wait` of `services` (yielding the seconds it took), failing with `ps` and
    the logs when they do not come up; `down -v` afterwards whatever happened."""
    started = time.monotonic()
    try:
        up = compose.run("up", "--build", "--wait", "--wait-timeout", "300", *services, timeout=900)
        if up.returncode != 0:
            pytest.fail(f"compose up failed:\n{up.stderr[-4000:]}\n{compose.diagnostics()}")
        yield time.monotonic() - started
    finally:
        compose.down()


def fast_prometheus_config(directory: Path, source: str = "prometheus/prometheus.yml") -> Path:
    """A Prometheus config of the repository with 2 s intervals (jobs and rule files
    unchanged), written into `directory` for the end-to-end tests' E2E_PROMETHEUS_CONFIG."""
    config = yaml.safe_load((REPO / source).read_text())
    config["global"].update(
        {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"}
    )
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o644)  # read by the container's nobody
    return path


def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.env"
    path.write_text("")
    return path


def random_secret() -> str:
    return secrets.token_urlsafe(32)
