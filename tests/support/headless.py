"""Real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) for looking at pages.

Skips locally when Chromium or Playwright is missing; under ``CI=true`` that fails the test
instead, so CI cannot go green without having looked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} and CI=true: browser tests must run in CI")
    pytest.skip(reason)


@contextmanager
def chromium_page(width: int = 800, height: int = 600) -> Iterator[Page]:
    """A fresh page of a fresh headless Chromium, closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
        raise  # pragma: no cover - _missing never returns
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            # The page under test must not reach the network: every request is refused.
            page.route("**/*", lambda route: route.abort())
            yield page
        finally:
            browser.close()
