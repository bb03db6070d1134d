"""Alembic migrations, shipped inside the package so the image finds them."""
