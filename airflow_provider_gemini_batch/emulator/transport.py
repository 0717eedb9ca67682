"""Give the ASGI app a handle on the TCP connection, so a fault can drop it without a response.

uvicorn never exposes the socket to the application. We subclass its HTTP protocol (httptools
when installed, else h11) so every connection registers its transport, keyed by the
(server address, client address) pair that also appears in the ASGI scope. A route can then read
part of a body, persist it, and abort the transport: the client sees the connection close with
no HTTP status line at all - exactly what a network failure mid-upload looks like.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

_TRANSPORTS: dict[tuple[Any, Any], asyncio.Transport] = {}


def _key(server: Any, client: Any) -> tuple[Any, Any]:
    return (tuple(server) if server else None, tuple(client) if client else None)


class _RegistryMixin:
    """Registers the transport of each connection while it is open."""

    transport: asyncio.Transport
    server: Any
    client: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        _TRANSPORTS[_key(self.server, self.client)] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        _TRANSPORTS.pop(_key(self.server, self.client), None)
        super().connection_lost(exc)  # type: ignore[misc]


def protocol_class() -> type[asyncio.Protocol]:
    """The uvicorn HTTP protocol class with transport registration (httptools if available)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return type("EmulatorHttpToolsProtocol", (_RegistryMixin, HttpToolsProtocol), {})
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return type("EmulatorH11Protocol", (_RegistryMixin, H11Protocol), {})


async def drop_connection(scope: MutableMapping[str, Any]) -> bool:
    """Abort the TCP connection that carried ``scope``'s request. Returns False if unknown.

    ``abort()`` discards anything buffered and closes at once (RST when unread bytes remain), so
    no status line is ever written. Yielding twice lets ``connection_lost`` run before the route
    returns, which makes uvicorn skip its "no response sent" 500 on a dead connection.
    """
    transport = _TRANSPORTS.get(_key(scope.get("server"), scope.get("client")))
    if transport is None:
        return False
    transport.abort()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return True
