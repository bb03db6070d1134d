"""`python -m grafana.dashgen` writes grafana/dashboards/*.json; `--check` only verifies them."""

from __future__ import annotations

import argparse
import sys

from grafana.dashgen.render import DASHBOARD_DIR, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.dashgen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed dashboard is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for name in problems:
            print(f"stale: {DASHBOARD_DIR / name} (run: python -m grafana.dashgen)")
        return 1 if problems else 0
    for name in write():
        print(f"wrote {DASHBOARD_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
