"""Render the project's Alertmanager configuration and run the real binary on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.background import background
from tests.support import free_port, require_binary, wait_http

REPO = Path(__file__).resolve().parents[2]
ALERTMANAGER_DIR = REPO / "alertmanager"
RENDER_SCRIPT = ALERTMANAGER_DIR / "render-config.sh"


def render(out_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run render-config.sh with only `env` (plus PATH) set, as a container would."""
    return subprocess.run(
        ["sh", str(RENDER_SCRIPT), str(out_dir)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def running_alertmanager(
    workdir: Path,
    env: dict[str, str],
    transform: Callable[[str], str] | None = None,
) -> Iterator[str]:
    """Render with `env`, apply `transform` to the rendered YAML, run Alertmanager.

    Yields its base URL. The transform is how a test shortens timings: it
    rewrites the rendered copy, never the committed file.
    """
    binary = require_binary("alertmanager")
    config_dir = workdir / "alertmanager"
    result = render(config_dir, env)
    assert result.returncode == 0, result.stderr
    config = config_dir / "alertmanager.yml"
    if transform is not None:
        config.write_text(transform(config.read_text()))
    port = free_port()
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with background(cmd, workdir / "alertmanager.log") as process:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", timeout=20)
        process.assert_running()
        yield url
