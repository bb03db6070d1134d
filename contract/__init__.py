"""The telemetry contract (contract/telemetry.yaml), for the repository's own tools.

`current()` is the contract, read once. The Python packages with images of their own
(sample_service, oncall, sidecar) do not import this: they get a generated constants
module instead (contract/modules.py).
"""

from __future__ import annotations

import functools

from contract.model import CONTRACT_FILE, Contract, ContractError, Metric, load

__all__ = ["CONTRACT_FILE", "Contract", "ContractError", "Metric", "current", "load"]


@functools.cache
def current() -> Contract:
    """contract/telemetry.yaml, loaded and checked (ContractError if it is not sound)."""
    return load()
