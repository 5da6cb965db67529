"""The framework-neutral request value every adapter builds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["InboundRequest"]


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One HTTP request as received: method, path, headers (names lower-cased) and the exact
    body bytes. Build it from any framework's request; nothing here re-serialises the body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        remote_addr: str | None = None,
    ) -> InboundRequest:
        """Normalise header names to lower case (the first of repeated headers wins)."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lowered: dict[str, str] = {}
        for name, value in pairs:
            lowered.setdefault(name.lower(), value)
        return cls(method.upper(), path, lowered, bytes(body), remote_addr)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)
