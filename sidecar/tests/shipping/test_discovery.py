"""What a source's globs offer for tailing and what they refuse: excludes, dangling links,
hard links, directories, the bound on remembered refusals, files swapped or gone between
the scan and the open, and a machine without one of the pseudo-filesystem roots.

(The refusals themselves, through the real process: test_process.py's
test_3_symlinks_out_of_the_roots_proc_files_and_fifos_are_refused.)
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
from sidecar.shipping import discovery as discovery_module
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.discovery import DevIno, Discovery


def _discovery(
    logs: Path, *patterns: str, exclude: tuple[str, ...] = ()
) -> tuple[Discovery, list[str]]:
    """A source's discovery, and the list of the refusal reasons it counts."""
    source = SourceConfig(
        name="app",
        service_name="svc",
        paths=[str(logs / p) for p in patterns],
        exclude=[str(logs / p) for p in exclude],
    )
    refused: list[str] = []
    return Discovery(source, refused.append), refused


def _id(path: Path) -> DevIno:
    info = os.stat(path)
    return info.st_dev, info.st_ino


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    return directory


def test_an_excluded_path_is_neither_offered_nor_counted_as_refused(logs):
    (logs / "app.log").write_text("kept\n")
    (logs / "debug.log").write_text("excluded\n")
    os.mkfifo(logs / "pipe.log")  # would be refused, were it not excluded first
    discovery, refused = _discovery(logs, "*.log", exclude=("debug.log", "pipe.*"))
    assert discovery.scan(set()) == {_id(logs / "app.log"): str(logs / "app.log")}
    assert refused == []


def test_a_dangling_link_is_skipped_quietly_and_offered_once_its_target_exists(logs):
    link = logs / "app.log"
    link.symlink_to(logs / "current.data")  # under the root, outside the glob
    discovery, refused = _discovery(logs, "*.log")
    assert discovery.scan(set()) == {}
    assert refused == []
    (logs / "current.data").write_text("now there\n")
    assert discovery.scan(set()) == {_id(link): str(link)}


@pytest.mark.parametrize("first", ["*.log", "*.log.1"])
def test_a_file_two_globs_match_is_offered_once_under_the_first_globs_name(logs, first):
    (logs / "app.log").write_text("one file\n")
    os.link(logs / "app.log", logs / "app.log.1")
    second = "*.log.1" if first == "*.log" else "*.log"
    found = _discovery(logs, first, second)[0].scan(set())
    name = "app.log" if first == "*.log" else "app.log.1"
    assert found == {_id(logs / "app.log"): str(logs / name)}


def test_a_directory_the_glob_matches_is_not_offered_and_not_counted_as_refused(logs):
    (logs / "archive.log").mkdir()
    os.mkfifo(logs / "pipe.log")  # shows the scan counts what it refuses
    discovery, refused = _discovery(logs, "*.log")
    assert discovery.scan(set()) == {}
    assert refused == ["not_regular"]


def test_past_the_bound_on_remembered_refusals_they_are_counted_again_not_remembered(logs, caplog):
    caplog.set_level(logging.ERROR, logger=discovery_module.__name__)  # 20,000 warnings
    bound = discovery_module._REMEMBERED_REFUSALS
    for n in range(bound + 1):
        os.mkfifo(logs / f"{n}.log")
    discovery, refused = _discovery(logs, "*.log")
    discovery.scan(set())
    assert len(refused) == bound + 1
    # A second scan finds the same refused paths: more than the memory holds, so they
    # are counted (and logged) again instead of the memory growing with them.
    discovery.scan(set())
    assert len(refused) > bound + 1
    assert len(discovery._refused) <= bound


def test_below_the_bound_a_refused_path_is_counted_once(logs):
    os.mkfifo(logs / "pipe.log")
    discovery, refused = _discovery(logs, "*.log")
    discovery.scan(set())
    discovery.scan(set())
    assert refused == ["not_regular"]


def _descriptors_on(path: Path) -> int:
    """Descriptors this process holds on `path` (other tests' processes and threads may
    open and close their own meanwhile)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == str(path)
        except FileNotFoundError:
            continue
    return count


def test_a_file_gone_between_scan_and_open_is_not_opened_and_logged_once(logs, caplog):
    path = logs / "app.log"
    path.write_text("line\n")
    discovery, _ = _discovery(logs, "*.log")
    ((dev_ino, found),) = discovery.scan(set()).items()
    path.unlink()
    # A file that fails to open for any reason but permissions (here: gone between the
    # scan and the open) may fail at every scan: one error line a minute, not one a scan.
    assert discovery.open(found, dev_ino) is None
    assert discovery.open(found, dev_ino) is None
    errors = [r for r in caplog.records if r.getMessage() == "cannot open log file"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert errors[0].__dict__["error"] == "No such file or directory"


def test_a_file_the_sidecar_may_not_read_is_refused_once_and_tailed_once_it_can(
    logs, monkeypatch, caplog
):
    path = logs / "app.log"
    path.write_text("line\n")
    path.chmod(0)
    if os.geteuid() == 0:
        # Permissions do not stop root (the tests' user here): refuse the open as the
        # kernel refuses the sidecar's non-root user.
        real_open = os.open

        def open_as_a_user(file, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
            if file == str(path) and not path.stat().st_mode & 0o444:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), file)
            return real_open(file, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_as_a_user)
    discovery, refused = _discovery(logs, "*.log")
    for _ in range(3):  # three scans
        ((dev_ino, found),) = discovery.scan(set()).items()
        assert discovery.open(found, dev_ino) is None
    assert refused == ["unreadable"]
    (warning,) = [r for r in caplog.records if r.getMessage() == "not tailing a matched path"]
    assert warning.__dict__["reason"] == "unreadable"
    assert not [r for r in caplog.records if r.getMessage() == "cannot open log file"]
    path.chmod(0o644)
    fd = discovery.open(found, dev_ino)
    assert fd is not None
    os.close(fd)


@pytest.mark.parametrize("swap", ["fifo", "other file"])
def test_a_file_swapped_between_scan_and_open_is_not_opened_and_nothing_leaks(logs, swap):
    path = logs / "app.log"
    path.write_text("line\n")
    discovery, _ = _discovery(logs, "*.log")
    ((dev_ino, found),) = discovery.scan(set()).items()
    # Made beside it, then moved over it: a new inode, not the old one's number reused.
    replacement = logs / "replacement"
    if swap == "fifo":
        os.mkfifo(replacement)  # opened O_NONBLOCK: the open does not wait for a writer
    else:
        replacement.write_text("another file now\n")
    os.replace(replacement, path)
    before = _descriptors_on(path)
    assert discovery.open(found, dev_ino) is None
    assert _descriptors_on(path) == before
    fd = discovery.open(found, _id(path))  # the next scan's identity is opened
    assert (fd is None) == (swap == "fifo")
    if fd is not None:
        os.close(fd)


def test_a_pseudo_filesystem_root_missing_here_does_not_stop_the_others_being_refused(
    logs, tmp_path, monkeypatch
):
    # /proc, /sys and /dev all exist on this machine; a container may lack one (no /sys).
    missing = str(tmp_path / "no-such-pseudo-root")
    monkeypatch.setattr(discovery_module, "_PSEUDO_ROOTS", ("/proc", missing))
    (logs / "environ.log").symlink_to("/proc/self/environ")
    discovery, refused = _discovery(logs, "*.log")
    assert discovery.scan(set()) == {}
    assert refused == ["pseudo_fs"]
