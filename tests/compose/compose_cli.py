"""Running `docker compose` from the tests: engine checks, isolated environments, teardown."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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


def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.env"
    path.write_text("")
    return path


def random_secret() -> str:
    return secrets.token_urlsafe(32)
