"""Audit records, written by a background task after the response has been sent."""

from __future__ import annotations

import logging

logger = logging.getLogger("sample_service.audit")


async def record_event(action: str, actor_id: int, item_id: int) -> None:
    logger.info(
        "audit %s", action, extra={"audit_action": action, "actor_id": actor_id, "item_id": item_id}
    )
