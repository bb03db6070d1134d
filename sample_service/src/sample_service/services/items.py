"""Item rules: anyone reads, owners change; single-item reads go through the cache."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sample_service.core.cache import Cache
from sample_service.crud import items as items_crud
from sample_service.models import Item, User
from sample_service.schemas.item import ItemCreate, ItemPage, ItemRead, ItemUpdate
from sample_service.services.errors import NotFoundError, PermissionDeniedError


def cache_key(item_id: int) -> str:
    return f"item:{item_id}"


async def list_items(session: AsyncSession, *, limit: int, offset: int) -> ItemPage:
    rows, total = await items_crud.list_page(session, limit=limit, offset=offset)
    return ItemPage(
        items=[ItemRead.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


async def get_item_json(
    sessions: async_sessionmaker[AsyncSession], cache: Cache, item_id: int
) -> tuple[bytes, bool]:
    """The item as ItemRead JSON, and whether it came from the cache. The cache only ever
    holds JSON this function wrote, so a hit is returned without parsing it again."""
    cached = await cache.get(cache_key(item_id))
    if cached is not None:
        return cached, True
    async with sessions() as session:
        item = await items_crud.get(session, item_id)
        if item is None:
            raise NotFoundError(f"item {item_id} not found")
        body = ItemRead.model_validate(item).model_dump_json().encode()
    await cache.set(cache_key(item_id), body)
    return body, False


async def create_item(session: AsyncSession, owner: User, data: ItemCreate) -> ItemRead:
    item = await items_crud.create(session, owner_id=owner.id, values=data.model_dump())
    await session.commit()
    return ItemRead.model_validate(item)


async def _owned_item(session: AsyncSession, owner: User, item_id: int) -> Item:
    item = await items_crud.get(session, item_id)
    if item is None:
        raise NotFoundError(f"item {item_id} not found")
    if item.owner_id != owner.id:
        raise PermissionDeniedError("only the owner may change this item")
    return item


async def update_item(
    session: AsyncSession, cache: Cache, owner: User, item_id: int, data: ItemUpdate
) -> ItemRead:
    item = await _owned_item(session, owner, item_id)
    item = await items_crud.update(session, item, data.model_dump(exclude_unset=True))
    await session.commit()
    await cache.delete(cache_key(item_id))
    return ItemRead.model_validate(item)


async def delete_item(session: AsyncSession, cache: Cache, owner: User, item_id: int) -> None:
    item = await _owned_item(session, owner, item_id)
    await items_crud.delete(session, item)
    await session.commit()
    await cache.delete(cache_key(item_id))
