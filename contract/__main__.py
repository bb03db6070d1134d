"""`python -m contract [--check]`: write (or verify) what is generated from the contract.

Writes contract/README.md and each package's telemetry_contract.py (contract/modules.py
lists them). With --check, writes nothing and exits 1 naming every stale file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contract.model import ContractError, load
from contract.modules import REPO, rendered
from contract.page import render

PAGE = REPO / "contract" / "README.md"


def outputs() -> dict[Path, str]:
    """Every generated file, by path."""
    contract = load()
    return {PAGE: render(contract), **rendered(contract)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contract", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    try:
        files = outputs()
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    for path in stale:
        relative = path.relative_to(REPO)
        if args.check:
            print(f"stale: {relative} (run python -m contract)")
        else:
            path.write_text(files[path])
            print(f"wrote {relative}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
