"""The operator console: browse, search and replay the inbox, confirm subscriptions.

Served on its own listener (``[console]`` in the configuration), by ``sns-subscriber serve``
next to the SNS endpoints or alone by ``sns-subscriber console``. Needs the ``service`` extra.
"""

from __future__ import annotations

from .app import ConsoleSettings, create_console_app
from .server import console_from_config, console_token

__all__ = ["ConsoleSettings", "console_from_config", "console_token", "create_console_app"]
