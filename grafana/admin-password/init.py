"""Grafana's admin password, chosen once per stack and kept on a named volume.

    python init.py        # at `docker compose up`: make sure the password file exists
    python init.py show   # print it (docker compose run --rm grafana-password show)

Grafana reads the file through GF_SECURITY_ADMIN_PASSWORD__FILE. The first run
writes a random password (secrets.token_urlsafe, 32 characters); later runs
keep it, so `docker compose down` keeps the password and `down -v`, which
deletes the volume, makes a new one. A GF_ADMIN_PASSWORD set in .env wins and
is written to the file instead. There is never a fixed default, and the
password never goes to the log: the log says how to read it.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

PASSWORD_FILE = Path(
    os.environ.get("GRAFANA_ADMIN_PASSWORD_FILE", "/var/lib/grafana-admin/admin_password")
)
READ_COMMAND = "docker compose run --rm grafana-password show"
PREFIX = "grafana-password:"


def _current() -> str:
    try:
        return PASSWORD_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _write(password: str) -> None:
    temporary = PASSWORD_FILE.with_name(f".{PASSWORD_FILE.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, PASSWORD_FILE)


def ensure() -> int:
    chosen = os.environ.get("GF_ADMIN_PASSWORD", "").strip()
    try:
        current = _current()
        if chosen:
            if chosen != current:
                _write(chosen)
            print(f"{PREFIX} using GF_ADMIN_PASSWORD from .env", flush=True)
            if current and chosen != current:
                print(
                    f"{PREFIX} note: Grafana sets the admin password only when it creates its "
                    "database; to change it on a running stack: docker compose exec grafana "
                    "grafana cli admin reset-admin-password <new password>",
                    flush=True,
                )
        elif current:
            print(f"{PREFIX} keeping the admin password chosen at the first start", flush=True)
        else:
            _write(secrets.token_urlsafe(24))
            print(f"{PREFIX} chose a random admin password for Grafana's user admin", flush=True)
    except OSError as exc:
        print(f"{PREFIX} cannot write {PASSWORD_FILE}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"{PREFIX} read it with: {READ_COMMAND}", flush=True)
    return 0


def show() -> int:
    try:
        password = _current()
    except OSError as exc:
        print(f"{PREFIX} cannot read {PASSWORD_FILE}: {exc.strerror}", file=sys.stderr)
        return 2
    if not password:
        print(f"{PREFIX} no password yet: run docker compose up -d first", file=sys.stderr)
        return 1
    print(password)
    return 0


def main(argv: list[str]) -> int:
    if argv == ["show"]:
        return show()
    if argv:
        print(f"usage: {Path(__file__).name} [show]", file=sys.stderr)
        return 2
    return ensure()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
