"""Sentry error reporting when SENTRY_DSN is set; inert otherwise."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from sample_service import __version__
from sample_service.core.settings import Settings


def init_sentry(settings: Settings) -> bool:
    """Initialise the SDK; False (and nothing done) without a DSN."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.environment,
        release=f"{settings.service_name}@{__version__}",
        send_default_pii=False,
        # Frame locals hold raw ASGI scopes (Authorization, cookies) and passwords in
        # flight; send_default_pii does not scrub them, so they are not sent at all.
        include_local_variables=False,
        # Errors are captured explicitly by the exception handler; logging the same
        # error must not produce a second event.
        integrations=[LoggingIntegration(event_level=None)],
    )
    sentry_sdk.set_tag("service_name", settings.service_name)
    return True
