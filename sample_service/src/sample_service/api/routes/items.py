"""Items: public paginated list and cached read; create, update, delete for their owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Path, Query, Request, Response, status

from sample_service.api.deps import CurrentUser, SessionDep, State, v1_router
from sample_service.api.responses import BODY_ERRORS, UNAUTHORIZED, Responses, error
from sample_service.api.state import AppState
from sample_service.models.base import MAX_ID
from sample_service.schemas.item import ItemCreate, ItemPage, ItemRead, ItemUpdate
from sample_service.services import audit, items

router = v1_router("items", "items")

ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
_NOT_FOUND: Responses = {404: error("no such item")}
_OWNER_ONLY: Responses = {**UNAUTHORIZED, 403: error("not the owner"), **_NOT_FOUND}


@router.get("")
async def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ItemPage:
    return await items.list_items(session, limit=limit, offset=offset)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    responses={
        **_NOT_FOUND,
        200: {"headers": {"X-Cache": {"description": "hit or miss", "schema": {"type": "string"}}}},
    },
)
async def get_item(item_id: ItemId, request: Request) -> Response:
    # The hot read: the cache holds the item's JSON, a hit is answered with those bytes as
    # they are, and only a miss opens a database session. The state comes from the app,
    # not from the State dependency: FastAPI resolves a dependency at ~20 us a request,
    # more than the rest of this route (bench/service_overhead/README.md).
    state: AppState = request.app.state.service
    body, hit = await items.get_item_json(state.session_factory, state.cache, item_id)
    return Response(
        body, media_type="application/json", headers={"X-Cache": "hit" if hit else "miss"}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={**UNAUTHORIZED, **BODY_ERRORS},
)
async def create_item(
    data: ItemCreate, user: CurrentUser, session: SessionDep, background: BackgroundTasks
) -> ItemRead:
    item = await items.create_item(session, user, data)
    background.add_task(audit.record_event, "item.created", user.id, item.id)
    return item


@router.patch("/{item_id}", responses={**_OWNER_ONLY, **BODY_ERRORS})
async def update_item(
    item_id: ItemId,
    data: ItemUpdate,
    user: CurrentUser,
    session: SessionDep,
    state: State,
    background: BackgroundTasks,
) -> ItemRead:
    item = await items.update_item(session, state.cache, user, item_id, data)
    background.add_task(audit.record_event, "item.updated", user.id, item_id)
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_OWNER_ONLY)
async def delete_item(
    item_id: ItemId,
    user: CurrentUser,
    session: SessionDep,
    state: State,
    background: BackgroundTasks,
) -> None:
    await items.delete_item(session, state.cache, user, item_id)
    background.add_task(audit.record_event, "item.deleted", user.id, item_id)
