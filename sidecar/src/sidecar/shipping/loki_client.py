"""HTTP push to Loki with retries: exponential backoff, full jitter, a cap, Retry-After.

Connection errors, 429 and 5xx are retried until they succeed (or the sidecar shuts
down): giving up would lose lines. Other 4xx except 400/413 are configuration problems
(auth, URL) and are retried as well, since fixing the config recovers every line. A
400 or 413 cannot succeed on retry and is returned to the caller to count as dropped.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import time
from dataclasses import dataclass

import httpx

from sidecar.config import LokiConfig
from sidecar.shipping.encoding import Body

log = logging.getLogger(__name__)

TERMINAL = frozenset({400, 413})
# Every value Attempt.outcome takes: the outcome label of the push-request counter.
OUTCOMES = ("success", "rejected", "rate_limited", "server_error", "client_error", "error")


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: str  # one of OUTCOMES
    duration: float
    status: int | None
    body: str


class LokiClient:
    def __init__(self, config: LokiConfig) -> None:
        self.config = config
        headers = {"User-Agent": "obs-sidecar/0.1"}
        if config.tenant_id:
            headers["X-Scope-OrgID"] = config.tenant_id
        if config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"
        auth = None
        if config.basic_auth is not None:
            auth = httpx.BasicAuth(
                config.basic_auth.username, config.basic_auth.password.get_secret_value()
            )
        verify: bool | ssl.SSLContext = True
        if config.tls.insecure_skip_verify:
            verify = False
        elif config.tls.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(config.tls.ca_file))
        self._http = httpx.AsyncClient(
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=config.timeout_seconds,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def attempt(self, body: Body) -> tuple[Attempt, float | None]:
        """One POST; the outcome and the server's Retry-After in seconds, if any."""
        headers = {"Content-Type": body.content_type}
        if body.content_encoding:
            headers["Content-Encoding"] = body.content_encoding
        started = time.monotonic()
        try:
            response = await self._http.post(self.config.url, content=body.content, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt("error", time.monotonic() - started, None, repr(exc)), None
        duration = time.monotonic() - started
        status = response.status_code
        if 200 <= status < 300:
            return Attempt("success", duration, status, ""), None
        text = response.text[:4096]
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in TERMINAL:
            outcome = "rejected"
        elif status == 429:
            outcome = "rate_limited"
        elif status >= 500:
            outcome = "server_error"
        else:
            outcome = "client_error"
        return Attempt(outcome, duration, status, text), retry_after

    def backoff(self, failures: int, retry_after: float | None) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^n)]."""
        cfg = self.config.backoff
        ceiling = min(cfg.max_seconds, cfg.min_seconds * (2 ** min(failures, 30)))
        delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
        if retry_after is not None:
            delay = max(delay, min(retry_after, cfg.max_retry_after_seconds))
        return delay


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
