"""The OpenAPI schema tells the truth: Schemathesis generates requests from it for every
operation and runs every check it has against each answer (status codes, content types,
headers and bodies conform to the schema; valid data is accepted and invalid data refused;
no 5xx; authentication is enforced; unsupported methods are refused ...). Bounded: 50
examples per operation. `max_response_time` is the one check left out: it needs a time
limit, and the suite makes no timing assertions.

Two apps, each with its own migrated database: the API, and the fault-injection admin
endpoints (enabled, so they answer for real), apart because a fault set by a generated
request would fail the API's requests on purpose.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from pwdlib import PasswordHash
from sample_service.app_factory import create_app
from sample_service.core.security import create_access_token
from sample_service.core.settings import Settings
from sample_service.db.migrate import upgrade_to_head

SECRET = "schemathesis-signing-key-0123456789abcdef"
FAULT_TOKEN = "schemathesis-fault-admin-token-0123456789"
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class _Upstream(BaseHTTPRequestHandler):
    """Stands in for the HTTP service GET /api/v1/upstream calls (it answers 200)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def _upstream() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    atexit.register(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}/"


def _settings(name: str, **overrides: Any) -> Settings:
    path = _WORKDIR / name / "service.db"
    path.parent.mkdir()
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    # One user, with a token for the operations that need one.
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO users (email, full_name, password_hash, created_at, updated_at) "
            "VALUES ('st@example.com', 'S', ?, '2026-01-01', '2026-01-01')",
            (PasswordHash.recommended().hash("schemathesis-password"),),
        )
    values: dict[str, Any] = {
        "database_url": url,
        "jwt_secret": SECRET,
        "upstream_url": _UPSTREAM,
        "rate_limit_per_minute": 10**9,
        "auth_rate_limit_per_minute": 10**9,
        "account_rate_limit_per_minute": 10**9,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field


# Built when the module is collected: schemathesis's fixture-based loader does not work with
# this pytest (it sets a node attribute pytest 9 no longer has).
_WORKDIR = Path(tempfile.mkdtemp(prefix="sample-service-schemathesis-"))
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
_UPSTREAM = _upstream()
api = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings("api"))).exclude(
    path_regex="^/admin"
)
admin = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(_settings("admin", fault_injection_enabled=True, fault_admin_token=FAULT_TOKEN)),
).include(path_regex="^/admin")


@api.parametrize()
@SETTINGS
def test_the_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    token = create_access_token(1, SECRET, 30)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


@admin.parametrize()
@SETTINGS
def test_the_admin_endpoints_conform_to_their_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {FAULT_TOKEN}"})


class _APIWorkflow(api.as_state_machine()):  # type: ignore[misc]  # a base class built at run time
    """Sequences of calls along the links Schemathesis infers (create an item, then read,
    update or delete it): the stateful checks (use after free, resource availability,
    object-level authorization) run here, with all the others."""

    def setup(self) -> None:
        # Every example starts from the same database: the rules' preconditions follow the
        # API's answers, so rows left by earlier examples made a replayed prefix take other
        # rules (Hypothesis's FlakyStrategyDefinition). The seeded user (id 1) stays.
        with sqlite3.connect(_WORKDIR / "api" / "service.db") as db:
            db.execute("DELETE FROM items")
            db.execute("DELETE FROM users WHERE id != 1")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
                db.execute("DELETE FROM sqlite_sequence WHERE name = 'items'")

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {create_access_token(1, SECRET, 30)}"}}


TestAPIWorkflow = _APIWorkflow.TestCase
TestAPIWorkflow.settings = settings(
    max_examples=50,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
