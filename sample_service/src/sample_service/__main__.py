"""`python -m sample_service`: apply the migrations, then serve on HOST:PORT (one process)."""

from __future__ import annotations

import uvicorn

from sample_service.core.http_server import bounded_protocol
from sample_service.core.log_config import configure_logging
from sample_service.core.settings import load_settings
from sample_service.db.migrate import upgrade_to_head


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    upgrade_to_head(settings.database_url)
    uvicorn.run(
        "sample_service.main:app",
        host=settings.host,
        port=settings.port,
        http=bounded_protocol(settings.max_header_count, settings.max_header_bytes),
        access_log=False,  # the app writes its own access record
        log_config=None,  # keep the JSON logging configured above
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
