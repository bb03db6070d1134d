"""Helpers shared by every test directory: `from tests.support import ...`."""

from tests.support.processes import free_port, require_binary, wait_http

__all__ = ["free_port", "require_binary", "wait_http"]
