"""The schema comes from Alembic: upgrade head on an empty database, down again, and no
drift between the models and the migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sample_service.db.migrate import alembic_config, upgrade_to_head
from sample_service.models import Base
from sqlalchemy import create_engine


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_upgrade_head_on_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    assert _tables(path) == {"alembic_version", "users", "items"}
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0001",)
        ]
    upgrade_to_head(url)  # idempotent: a restart does not fail

    command.downgrade(alembic_config(url), "base")
    assert _tables(path) == {"alembic_version"}


def test_models_match_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "drift.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
