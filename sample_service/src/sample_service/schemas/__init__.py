"""Pydantic v2 schemas: what the API accepts and returns."""
