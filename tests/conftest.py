"""Fixtures shared by the cross-component tests (see tests/support/ for helpers)."""
