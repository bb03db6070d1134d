"""Items: public paginated list and cached read; create, update, delete for their owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Path, Query, Response, status

from sample_service.api.deps import CurrentUser, SessionDep, State, v1_router
from sample_service.schemas.item import ItemCreate, ItemPage, ItemRead, ItemUpdate
from sample_service.services import audit, items

router = v1_router("items", "items")

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_OWNER_ONLY = {
    401: {"description": "not authenticated"},
    403: {"description": "not the owner"},
    404: {"description": "no such item"},
}


@router.get("")
async def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ItemPage:
    return await items.list_items(session, limit=limit, offset=offset)


@router.get("/{item_id}", responses={404: {"description": "no such item"}})
async def get_item(
    item_id: ItemId, session: SessionDep, state: State, response: Response
) -> ItemRead:
    item, hit = await items.get_item_cached(session, state.cache, item_id)
    response.headers["X-Cache"] = "hit" if hit else "miss"
    return item


@router.post("", status_code=status.HTTP_201_CREATED, responses={401: _OWNER_ONLY[401]})
async def create_item(
    data: ItemCreate, user: CurrentUser, session: SessionDep, background: BackgroundTasks
) -> ItemRead:
    item = await items.create_item(session, user, data)
    background.add_task(audit.record_event, "item.created", user.id, item.id)
    return item


@router.patch("/{item_id}", responses=_OWNER_ONLY)
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
