"""grafana/admin-password/init.py: a random admin password once, kept, .env wins, never logged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.grafana.model import ROOT

SCRIPT = ROOT / "grafana" / "admin-password" / "init.py"


def run(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GF_ADMIN_PASSWORD"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**clean, "GRAFANA_ADMIN_PASSWORD_FILE": str(path), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_first_start_chooses_a_random_password_and_says_how_to_read_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "admin_password"
    result = run(path)
    assert result.returncode == 0, result.stderr
    password = path.read_text()
    assert len(password) >= 32
    assert path.stat().st_mode & 0o777 == 0o400
    assert password not in result.stdout + result.stderr
    assert "read it with: docker compose run --rm grafana-password show" in result.stdout
    other = tmp_path / "other"
    assert run(other).returncode == 0
    assert other.read_text() != password, "two stacks got the same password"


def test_a_later_start_keeps_it_and_show_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "admin_password"
    run(path)
    password = path.read_text()
    result = run(path)
    assert result.returncode == 0
    assert "keeping the admin password" in result.stdout
    assert path.read_text() == password
    shown = run(path, "show")
    assert (shown.returncode, shown.stdout) == (0, password + "\n")


def test_gf_admin_password_from_env_wins(tmp_path: Path) -> None:
    path = tmp_path / "admin_password"
    run(path)
    result = run(path, GF_ADMIN_PASSWORD="chosen-by-the-operator")
    assert result.returncode == 0
    assert path.read_text() == "chosen-by-the-operator"
    assert "using GF_ADMIN_PASSWORD from .env" in result.stdout
    assert "reset-admin-password" in result.stdout  # Grafana's database keeps the old one
    assert "chosen-by-the-operator" not in result.stdout + result.stderr
    # An empty value is "not set", never an empty password.
    assert run(path, GF_ADMIN_PASSWORD="  ").returncode == 0
    assert path.read_text() == "chosen-by-the-operator"


def test_show_before_any_start_and_a_bad_argument_fail_clearly(tmp_path: Path) -> None:
    shown = run(tmp_path / "none", "show")
    assert shown.returncode == 1
    assert "no password yet" in shown.stderr
    assert run(tmp_path / "none", "print").returncode == 2


def test_an_unusable_volume_is_a_clear_error(tmp_path: Path) -> None:
    # A directory where the file should be: no uid, root included, can use it.
    path = tmp_path / "admin_password"
    (path / "x").mkdir(parents=True)
    result = run(path)
    assert result.returncode == 2
    assert "cannot write" in result.stderr
    assert "Traceback" not in result.stderr
