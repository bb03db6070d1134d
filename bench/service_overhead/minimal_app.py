"""The floor: a minimal FastAPI app answering the benchmark's paths with fixed data, run by
run.py's `minimal` mode to show what FastAPI and uvicorn alone cost a request on this
machine. Same item and page shapes as the service; no database, cache, middleware,
dependency or telemetry.

    python bench/service_overhead/minimal_app.py   # serves HOST:PORT (default 127.0.0.1:8000)
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import FastAPI


def _item(number: int) -> dict[str, Any]:
    return {
        "id": number,
        "name": f"item {number - 1}",
        "description": "",
        "price": "9.99",
        "quantity": number - 1,
        "owner_id": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }


app = FastAPI()


@app.get("/api/v1/items/{item_id}")
async def get_item(item_id: int) -> dict[str, Any]:
    return _item(item_id)


@app.get("/api/v1/items")
async def list_items() -> dict[str, Any]:
    return {"items": [_item(n) for n in range(1, 21)], "total": 20, "limit": 20, "offset": 0}


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "pass"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        access_log=False,
        log_level="warning",
        proxy_headers=False,
    )
