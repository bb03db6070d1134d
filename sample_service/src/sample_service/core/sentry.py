"""Sentry error reporting when SENTRY_DSN is set; inert otherwise."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from sample_service import __version__
from sample_service.core.scrubbing import scrub_sentry_event
from sample_service.core.settings import Settings


def init_sentry(settings: Settings) -> bool:
    """Initialise the SDK; False (and nothing done) without a DSN."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.environment,
        release=f"{settings.service_name}@{__version__}",
        # No personal data: no user identity, no cookies, no bodies (passwords), no query
        # strings, headers only through the SDK's sensitive-name denylist, and no frame
        # locals (they hold raw ASGI scopes with Authorization and cookies).
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        # Errors are captured explicitly by the exception handler; logging the same
        # error must not produce a second event.
        integrations=[LoggingIntegration(event_level=None)],
        # What the options above cannot stop: secrets inside exception messages and log
        # breadcrumbs (bound SQL parameters, tokens, passwords), see core/scrubbing.py.
        before_send=scrub_sentry_event,
        before_breadcrumb=scrub_sentry_event,
    )
    sentry_sdk.set_tag("service_name", settings.service_name)
    return True
