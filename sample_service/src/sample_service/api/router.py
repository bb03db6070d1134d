"""Assembles the routers of the app."""

from __future__ import annotations

from fastapi import APIRouter

from sample_service.api.routes import admin, auth, health, items, metrics, upstream, users

root = APIRouter()
for module in (health, metrics, admin, auth, users, items, upstream):
    root.include_router(module.router)
