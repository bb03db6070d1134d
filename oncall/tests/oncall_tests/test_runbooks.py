"""docs/runbooks/ served as HTML: every runbook, an index, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from oncall.settings import Settings
from starlette.testclient import TestClient

from oncall_tests.payloads import RUNBOOKS

NAMES = sorted(p.name for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("name", NAMES)
def test_every_runbook_renders(client: TestClient, name: str) -> None:
    response = client.get(f"/runbooks/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    alert = name.removesuffix(".md")
    assert f"<title>{alert}</title>" in response.text
    assert f"<h1>{alert}</h1>" in response.text
    assert "<h2>What to do</h2>" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_the_index_lists_every_runbook(client: TestClient) -> None:
    response = client.get("/runbooks/")
    assert response.status_code == 200
    for name in NAMES:
        assert f'<a href="{name}">' in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/runbooks/Nope.md",
        "/runbooks/README",
        "/runbooks/..%2Fconftest.py",
        "/runbooks/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/runbooks/.hidden.md",
        "/runbooks/link.md",
    ],
)
def test_nothing_outside_the_runbooks_is_served(
    client: TestClient, settings: Settings, tmp_path: Path, path: str
) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# secret\n")
    (settings.runbooks_dir / "link.md").symlink_to(secret)
    (settings.runbooks_dir / ".hidden.md").write_text("# hidden\n")
    response = client.get(path)
    assert response.status_code == 404
    assert "secret" not in response.text


def test_markdown_cannot_inject_markup(client: TestClient, settings: Settings) -> None:
    (settings.runbooks_dir / "Evil.md").write_text(
        "# Evil\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    text = client.get("/runbooks/Evil.md").text
    assert "<script>" not in text
    assert 'href="javascript:' not in text
    assert "<table>" in text  # tables render


def test_an_edited_runbook_is_served_fresh(client: TestClient, settings: Settings) -> None:
    page = settings.runbooks_dir / "ServiceDown.md"
    assert "Edited" not in client.get("/runbooks/ServiceDown.md").text
    page.write_text(page.read_text() + "\nEdited today.\n")
    assert "Edited today." in client.get("/runbooks/ServiceDown.md").text


def test_without_runbooks_readiness_says_so(client_for, settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    client = client_for(Settings(runbooks_dir=empty, log_file=settings.log_file))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "no runbooks" in response.json()["output"]
