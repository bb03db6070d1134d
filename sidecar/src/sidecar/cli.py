"""`python -m sidecar run|check-config --config FILE` (also the `obs-sidecar` script)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obs-sidecar", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "ship logs and aggregate health"),
        ("check-config", "validate a config file and exit"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", type=Path, required=True, help="YAML config file")
    ship = commands.add_parser(
        "ship", help="the log-shipping process `run` starts (configuration on stdin)"
    )
    ship.add_argument("--status-fd", type=int, required=True, help="pipe for status lines")
    ship.add_argument("--parent-pid", type=int, required=True, help="the main process")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ship":
        from sidecar.shipping import process

        return process.main(args.status_fd, args.parent_pid)
    from sidecar.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{args.config}: ok ({len(config.sources)} sources)")
        return 0
    from sidecar import logs
    from sidecar.app import serve

    logs.configure(config.log_level)
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
