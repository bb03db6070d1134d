"""`python -m sidecar run|check-config --config FILE` (also the `obs-sidecar` script)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar.config import SidecarConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obs-sidecar", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "ship logs and aggregate health"),
        ("check-config", "validate a config file (and its services file) and exit"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", type=Path, required=True, help="YAML config file")
    ship = commands.add_parser(
        "ship", help="the log-shipping process `run` starts (configuration on stdin)"
    )
    ship.add_argument("--status-fd", type=int, required=True, help="pipe for status lines")
    ship.add_argument("--parent-pid", type=int, required=True, help="the main process")
    return parser


def _checked(config: SidecarConfig) -> SidecarConfig:
    """The config with its services file's sources and checks (ServicesFileError if bad)."""
    from sidecar.services.derive import with_services
    from sidecar.services.loader import load

    if config.services_file is None:
        return config
    path = config.services_file.path
    return with_services(config, load(path), str(path))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ship":
        from sidecar.shipping import process

        return process.main(args.status_fd, args.parent_pid)
    # Imported here, not at the top: the shipping process (above) needs none of these.
    from sidecar.config import ConfigError, load_config
    from sidecar.services.loader import ServicesFileError

    try:
        config = load_config(args.config)
        if args.command == "check-config":
            checked = _checked(config)
            print(
                f"{args.config}: ok ({len(checked.sources)} sources, "
                f"{len(checked.health.checks)} checks)"
            )
            return 0
    except (ConfigError, ServicesFileError) as exc:
        print(exc, file=sys.stderr)
        return 2
    from sidecar import logs
    from sidecar.app import serve

    logs.configure(config.log_level)
    try:
        asyncio.run(serve(config))
    except ServicesFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
