"""Durable inbox stores: SQLite (embedded default) and PostgreSQL (extra ``postgres``).

``open_store(url)`` picks one from a URL and migrates its schema. Importing this package
never imports a database driver; ``PostgresStore`` loads psycopg on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, MissingExtraError
from .base import (
    InboxRecord,
    InboxStatus,
    InboxStore,
    NewMessage,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
)
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = [
    "InboxRecord",
    "InboxStatus",
    "InboxStore",
    "NewMessage",
    "PostgresStore",
    "SQLiteStore",
    "SubscriptionEvent",
    "SubscriptionRecord",
    "SubscriptionState",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        return _postgres_store_class()
    raise AttributeError(name)


def _postgres_store_class() -> type[PostgresStore]:
    try:
        from .postgres import PostgresStore  # noqa: PLC0415 - psycopg is optional
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("psycopg"):
            raise MissingExtraError("The PostgreSQL store", "postgres", "psycopg") from exc
        raise
    return PostgresStore


def open_store(url: str, **options: Any) -> InboxStore:
    """Open and migrate the store at ``url``: ``sqlite:///relative.db``,
    ``sqlite:////absolute.db`` or ``postgresql://user@host:port/database``."""
    store: InboxStore
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ConfigurationError("sqlite store URL needs a file path: sqlite:///inbox.db", value=url)
        store = SQLiteStore(path, **options)
    elif url.startswith(("postgresql://", "postgres://")):
        store = _postgres_store_class()(url, **options)
    else:
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise ConfigurationError(
            f"unsupported store URL scheme {scheme!r} (use sqlite:/// or postgresql://)", value=url
        )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
