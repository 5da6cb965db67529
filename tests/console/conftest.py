"""The console over each store (SQLite file and the real PostgreSQL), on a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sns_subscriber.confirmation import make_confirmer
from sns_subscriber.service.console import ConsoleSettings, create_console_app
from sns_subscriber.stores import InboxStore
from sns_subscriber.testing import SNSTestKit

from ..stores import conftest as store_fixtures
from ..support.clock import FakeClock
from ..support.console import TOKEN, ConfirmHost, Inbox
from ..support.servers import serve_asgi

# The store fixtures of the contract tests: each console test runs on SQLite and PostgreSQL.
backend = store_fixtures.backend
clock = store_fixtures.clock
make_store = store_fixtures.make_store
postgres_url = store_fixtures.postgres_url
schema_name = store_fixtures.schema_name
store = store_fixtures.store
store_url = store_fixtures.store_url


@dataclass
class Console:
    url: str
    inbox: Inbox
    confirm_host: ConfirmHost


@pytest.fixture
def console(store: InboxStore, clock: FakeClock, sns_kit: SNSTestKit, tmp_path: Path) -> Iterator[Console]:
    confirm_host = ConfirmHost()
    trusted = frozenset({confirm_host.address})
    inbox = Inbox(sns_kit, store, sns_kit.write_cert_dir(tmp_path / "certs"), trusted_hosts=trusted)
    settings = ConsoleSettings(
        token=TOKEN,
        confirm_modes={"/sns": "manual"},
        confirmer=lambda mode: make_confirmer(mode, trusted_hosts=trusted),
        clock=clock,
    )
    with confirm_host.running(), serve_asgi(create_console_app(store, settings)) as url:
        yield Console(url, inbox, confirm_host)
