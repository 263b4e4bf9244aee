"""The server's connections send small writes at once (TCP_NODELAY). `vakstem serve` with
several workers listens on a socket uvicorn creates with protocol 0, which asyncio's own event
loop does not recognise as TCP, so it left Nagle's algorithm on for every connection accepted
from it: a response written in two parts (headers, then body) waited for the client's delayed
ACK, 40 ms for about one request in forty (measured on the bare baseline app too). uvloop, the
loop `vakstem serve` runs on, sets TCP_NODELAY on each connection.

Checked on the socket itself, in process: the option as each loop leaves it on a connection
accepted from a socket made the way uvicorn makes it."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable

import pytest
import uvicorn

from vakstem.commands import serve


def _nodelay_of_accepted_connection(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> int:
    listener = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket does
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    seen: list[int] = []

    class Record(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def connect_once() -> None:
        server = await asyncio.get_running_loop().create_server(Record, sock=listener)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()  # the server closes at once
        writer.close()
        server.close()
        await server.wait_closed()

    loop = new_loop()
    try:
        loop.run_until_complete(connect_once())
    finally:
        loop.close()
    assert len(seen) == 1
    return seen[0]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")
def test_connections_of_the_server_loop_send_at_once_where_asyncios_would_wait() -> None:
    import uvloop

    assert serve.SERVER_LOOP == "uvloop"
    assert _nodelay_of_accepted_connection(uvloop.new_event_loop) == 1
    # Why asyncio's loop is not used: the same socket, Nagle left on.
    assert _nodelay_of_accepted_connection(asyncio.new_event_loop) == 0


def test_uvicorn_resolves_the_server_loop_and_http_parser() -> None:
    async def app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
        return None

    config = uvicorn.Config(app, loop=serve.SERVER_LOOP, http=serve.SERVER_HTTP)
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        if sys.platform != "win32":
            import uvloop

            assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
