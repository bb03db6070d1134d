"""SQLAlchemy 2.0 ORM models; importing this package registers every table on Base.metadata."""

from sample_service.models.base import Base
from sample_service.models.item import Item
from sample_service.models.user import User

__all__ = ["Base", "Item", "User"]
