"""Recipients and configured budget owners."""

from __future__ import annotations

import pytest

from sns_subscriber.actions import BudgetOwner, ConfigOwnerResolver, Recipient
from sns_subscriber.exceptions import ConfigurationError

from .conftest import make_alert

FINANCE = Recipient("finance@example.com", "Finance")


def emails(recipients: list[Recipient]) -> list[str]:
    return [r.email for r in recipients]


def test_glob_matches_budget_names_case_sensitively() -> None:
    resolver = ConfigOwnerResolver([BudgetOwner(budget="team-a-*", email="alice@example.com")])
    assert emails(resolver(make_alert(budget_name="team-a-prod"))) == ["alice@example.com"]
    assert resolver(make_alert(budget_name="Team-A-prod")) == []
    assert resolver(make_alert(budget_name="team-b-prod")) == []


def test_account_restricts_the_match() -> None:
    resolver = ConfigOwnerResolver(
        [
            BudgetOwner(budget="prod", email="a@example.com", account="111111111111"),
            BudgetOwner(budget="prod", email="b@example.com", account="222222222222"),
        ]
    )
    assert emails(resolver(make_alert(budget_name="prod", account_id="222222222222"))) == ["b@example.com"]
    assert resolver(make_alert(budget_name="prod", account_id=None)) == []  # cannot tell which


def test_every_match_once_in_order() -> None:
    resolver = ConfigOwnerResolver(
        [
            BudgetOwner(budget="*", email="ops@example.com", name="Ops"),
            BudgetOwner(budget="team-a-*", email="alice@example.com"),
            BudgetOwner(budget="team-a-prod", email="OPS@example.com", name="Ops again"),
        ],
        fallback=[FINANCE],
    )
    found = resolver(make_alert())
    assert emails(found) == ["ops@example.com", "alice@example.com"]
    assert found[0].name == "Ops"


def test_fallback_only_when_nobody_matches() -> None:
    resolver = ConfigOwnerResolver(
        [BudgetOwner(budget="team-a-*", email="alice@example.com")],
        fallback=[FINANCE, Recipient("Finance@Example.com")],
    )
    [fallback] = resolver(make_alert(budget_name="other"))
    assert (fallback.email, fallback.name) == (FINANCE.email, FINANCE.name)
    # The fallback recipient is told why the alert reached them, not its owner.
    assert fallback.reason == (
        'You receive this e-mail as a fallback recipient: no owner matched budget "other" in AWS account '
        "123456789012. Name an owner for it to have its alerts reach the right people."
    )
    [owner] = resolver(make_alert())
    assert (owner.email, owner.reason) == ("alice@example.com", None)
    assert ConfigOwnerResolver([])(make_alert()) == []


def test_unknown_budget_name_only_matches_a_catch_all() -> None:
    resolver = ConfigOwnerResolver(
        [
            BudgetOwner(budget="team-*", email="t@example.com"),
            BudgetOwner(budget="*", email="all@example.com"),
        ]
    )
    assert emails(resolver(make_alert(budget_name=None))) == ["all@example.com"]


@pytest.mark.parametrize(
    "address",
    [
        "",
        "no-at-sign",
        "two@at@signs.example",
        "@example.com",
        "user@",
        "with space@example.com",
        "tab\t@example.com",
        "alice@example.com\r\nBcc: evil@example.net",
        "alice@example.com\n",
        "x" * 250 + "@example.com",
        "a..b@example.com",
        "<alice@example.com>",
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(ConfigurationError):
        Recipient(address)
    with pytest.raises(ConfigurationError):
        BudgetOwner(budget="*", email=address)


@pytest.mark.parametrize("address", ["ops@localhost", "first.last+budgets@mail.example.co.uk", "a@b.c"])
def test_valid_addresses(address: str) -> None:
    assert Recipient(address).email == address


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "abcdefghijkl", ""])
def test_account_must_be_twelve_digits(account: str) -> None:
    with pytest.raises(ConfigurationError, match="12-digit"):
        BudgetOwner(budget="*", email="a@example.com", account=account)


def test_budget_pattern_is_required() -> None:
    with pytest.raises(ConfigurationError, match="glob"):
        BudgetOwner(budget="", email="a@example.com")


def test_names_lose_line_breaks_and_control_characters() -> None:
    assert Recipient("a@example.com", "Eve\r\nBcc: evil@example.net").name == "Eve Bcc: evil@example.net"
    assert Recipient("a@example.com", " \t\n").name is None
    assert BudgetOwner(budget="*", email="a@example.com", name="Zoë\x00 \u2028Doe").name == "Zoë Doe"
    assert str(Recipient("a@example.com", "Doe, Jane").address) == '"Doe, Jane" <a@example.com>'


def test_resolver_checks_its_inputs() -> None:
    with pytest.raises(ConfigurationError, match="BudgetOwner"):
        ConfigOwnerResolver([Recipient("a@example.com")])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="Recipient"):
        ConfigOwnerResolver([], fallback=["a@example.com"])  # type: ignore[list-item]
