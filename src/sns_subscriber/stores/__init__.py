"""Durable inbox stores: SQLite (the embedded default) and PostgreSQL (extra ``postgres``).

``open_store(url)`` picks the store from a URL and migrates its schema::

    sqlite:///relative/path.db      relative to the working directory
    sqlite:////absolute/path.db
    sqlite:///:memory:              one process only (tests)
    postgresql://user@host:5432/db  or postgres://...

Importing this package never imports a database driver: ``PostgresStore`` is loaded, with
psycopg, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, MissingExtraError
from .base import (
    InboxRecord,
    InboxStatus,
    InboxStore,
    NewMessage,
    Rejection,
    RejectionRecord,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
)
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore as PostgresStore

# PostgresStore is public but left out of __all__: a star import must not need psycopg.
__all__ = [
    "InboxRecord",
    "InboxStatus",
    "InboxStore",
    "NewMessage",
    "Rejection",
    "RejectionRecord",
    "SQLiteStore",
    "SubscriptionEvent",
    "SubscriptionRecord",
    "SubscriptionState",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        return _postgres_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _postgres_store_class() -> type[PostgresStore]:
    try:
        from .postgres import PostgresStore  # noqa: PLC0415 - psycopg is an optional extra
    except ImportError as exc:
        if exc.name == "psycopg":
            raise MissingExtraError("PostgreSQL store", "postgres", "psycopg") from exc
        if exc.name == "psycopg_pool":
            raise MissingExtraError("PostgreSQL store", "postgres", "psycopg_pool") from exc
        raise
    return PostgresStore


def open_store(url: str, **options: Any) -> InboxStore:
    """Open the store ``url`` names, with store-specific ``options``, and migrate its schema.

    Raises ``ConfigurationError`` for a URL no store understands, ``MissingExtraError`` when
    the PostgreSQL driver is not installed, ``StoreUnavailableError`` when the database cannot
    be reached.
    """
    scheme, separator, _ = url.partition(":")
    scheme = scheme.lower() if separator else ""
    store: InboxStore
    if scheme == "sqlite":
        store = SQLiteStore(_sqlite_path(url), **options)
    elif scheme in ("postgresql", "postgres"):
        store = _postgres_store_class()(url, **options)
    else:
        # Name the scheme only: the rest of a database URL may hold a password.
        raise ConfigurationError(
            f"unsupported store URL scheme {scheme or '(none)'!r}: use sqlite:/// or postgresql://",
            value=scheme,
        )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        raise ConfigurationError(
            "a SQLite store URL has no host: sqlite:///relative.db or sqlite:////absolute.db",
            value=url,
        )
    path = url[len(prefix) :]
    if not path or "?" in path or "#" in path:
        raise ConfigurationError(
            "a SQLite store URL needs a file path and takes no query: sqlite:///inbox.db", value=url
        )
    return path
