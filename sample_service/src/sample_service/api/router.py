"""The routers of the app, each included in the app directly (no intermediate router):
FastAPI matches a request through every level of included routers."""

from __future__ import annotations

from fastapi import APIRouter

from sample_service.api.routes import admin, auth, health, items, metrics, upstream, users

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router for module in (health, metrics, admin, auth, users, items, upstream)
)
