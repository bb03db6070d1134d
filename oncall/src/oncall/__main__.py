"""`python -m oncall`: serve the inbox and the runbooks (settings: ONCALL_* variables)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from oncall.app import build_app
from oncall.settings import SettingsError, from_env


def main() -> int:
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        app = build_app(settings)
    except OSError as exc:
        print(f"oncall: cannot open {settings.log_file}: {exc.strerror}", file=sys.stderr)
        return 2
    logging.getLogger("oncall").info(
        "oncall: inbox and runbooks on %s:%d (records to %s, runbooks from %s)",
        settings.host,
        settings.port,
        settings.log_file,
        settings.runbooks_dir,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
