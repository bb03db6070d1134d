"""The sidecar recognises its own output, whatever its stdout and stderr are."""

from __future__ import annotations

import io
import subprocess
import sys

from sidecar.shipping import selfguard
from sidecar.shipping.selfguard import SelfGuard

# Prints whether the guard holds the file fd 1 was, after the child closed fd 1 if asked.
_CHILD = """
import os, sys
from sidecar.shipping.selfguard import SelfGuard
out = os.dup(1)
info = os.fstat(1)
if sys.argv[1] == "close":
    os.close(1)
guard = SelfGuard()
os.write(out, str(guard.is_own((info.st_dev, info.st_ino), "/x.log")).encode())
"""


def _child(tmp_path, mode: str) -> str:
    captured = tmp_path / f"stdout-{mode}"
    with captured.open("wb") as stdout:
        subprocess.run(
            [sys.executable, "-c", _CHILD, mode],
            stdout=stdout,
            stderr=subprocess.DEVNULL,  # a character device: not a file it could tail
            check=True,
            timeout=60,
        )
    return captured.read_text()


def test_stdout_redirected_to_a_file_is_own_and_a_closed_one_is_not(tmp_path):
    assert _child(tmp_path, "keep") == "True"
    assert _child(tmp_path, "close") == "False"


def test_no_readable_mountinfo_means_no_container_to_skip(monkeypatch):
    """open() stands in for a /proc without mountinfo (a sandbox, another OS)."""

    def no_proc(*_: object, **__: object) -> io.StringIO:
        raise FileNotFoundError("/proc/self/mountinfo")

    monkeypatch.setattr(selfguard, "open", no_proc, raising=False)
    guard = SelfGuard()
    cid = "a" * 64
    assert guard.is_own((0, 0), f"/var/lib/docker/containers/{cid}/{cid}-json.log") is False


def test_own_container_log_is_own(monkeypatch):
    cid = "0123456789abcdef" * 4
    mountinfo = f"1 2 0:1 /var/lib/docker/containers/{cid}/hostname /etc/hostname rw\n"
    monkeypatch.setattr(selfguard, "open", lambda *_, **__: io.StringIO(mountinfo), raising=False)
    guard = SelfGuard()
    assert guard.is_own((0, 0), f"/var/lib/docker/containers/{cid}/{cid}-json.log") is True
    assert guard.is_own((0, 0), f"/var/lib/docker/containers/{'f' * 64}/x-json.log") is False
