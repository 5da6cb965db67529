"""open_store: choosing a store from a URL, and keeping the database drivers optional."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import sns_subscriber.stores as stores
from sns_subscriber.exceptions import ConfigurationError, MissingExtraError
from sns_subscriber.stores import SQLiteStore, open_store


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://admin:hunter2@db.internal/inbox", "mysql"),
        ("redis://:hunter2@localhost:6379/0", "redis"),
        ("inbox.db", "(none)"),
        ("", "(none)"),
    ],
)
def test_unknown_schemes_are_configuration_errors(url: str, scheme: str) -> None:
    with pytest.raises(ConfigurationError, match="scheme") as caught:
        open_store(url)
    assert scheme in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_scheme_is_case_insensitive(tmp_path: object) -> None:
    store = open_store(f"SQLite:///{tmp_path}/inbox.db")
    try:
        assert isinstance(store, SQLiteStore)
    finally:
        store.close()


def test_importing_stores_does_not_import_psycopg() -> None:
    code = (
        "import sys, json, sns_subscriber.stores as s; "
        "print(json.dumps([m for m in ('psycopg', 'psycopg_pool') if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "sns_subscriber.stores.postgres", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'sns-subscriber\[postgres\]'") as caught:
        open_store("postgresql://postgres@127.0.0.1:5432/test")
    assert caught.value.extra == "postgres"
    with pytest.raises(MissingExtraError):
        stores.PostgresStore  # noqa: B018 - the attribute access is the test


def test_postgres_store_is_loaded_on_first_use() -> None:
    pytest.importorskip("psycopg")
    from sns_subscriber.stores.postgres import PostgresStore

    assert stores.PostgresStore is PostgresStore


def test_unknown_attributes_still_raise() -> None:
    with pytest.raises(AttributeError, match="NoSuchStore"):
        stores.NoSuchStore  # noqa: B018
