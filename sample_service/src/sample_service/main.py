"""The ASGI app, `sample_service.main:app`, configured from the environment."""

from __future__ import annotations

from sample_service.app_factory import create_app
from sample_service.core.log_config import configure_logging
from sample_service.core.settings import load_settings

configure_logging(load_settings())
app = create_app(load_settings())
