"""The async engine and session factory; the URL alone picks SQLite or PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine for `database_url` (sqlite+aiosqlite or postgresql+asyncpg).

    hide_parameters: SQLAlchemy appends a failed statement's bound values to the error
    message ("[parameters: ...]"), and from there to logs and Sentry; those values are
    request data (passwords, personal data), so they are left out.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # One connection per task is enough for SQLite; a wait beats "database is locked".
        return create_async_engine(url, hide_parameters=True, connect_args={"timeout": 15})
    return create_async_engine(
        url, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=10
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reload in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)
