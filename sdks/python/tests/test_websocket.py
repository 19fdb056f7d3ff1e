"""The WebSocket client against servers that misbehave: it fails with FaasConnectionError, never hangs."""

from __future__ import annotations

import asyncio

import pytest

from faas_sdk import FaasApiError, FaasConnectionError
from faas_sdk.websocket import WebSocket


async def serve_once(answer: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
        b"not http at all\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n",  # closed before the headers end
        b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * (17 * 1024 * 1024),  # headers without end
    ],
    ids=["wrong-accept", "not-http", "cut-short", "endless-headers"],
)
def test_a_bad_handshake_is_a_connection_error(answer: bytes) -> None:
    async def main() -> None:
        server, port = await serve_once(answer)
        async with server:
            with pytest.raises(FaasConnectionError):
                await WebSocket.connect(f"ws://127.0.0.1:{port}/x", {}, timeout=5)

    asyncio.run(asyncio.wait_for(main(), 20))


def test_an_error_answer_keeps_its_code() -> None:
    body = b'{"error":{"code":"FAAS_ERR_NOT_FOUND","message":"no such instance"}}'
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def main() -> None:
        server, port = await serve_once(answer)
        async with server:
            with pytest.raises(FaasApiError) as err:
                await WebSocket.connect(f"ws://127.0.0.1:{port}/x", {}, timeout=5)
            assert (err.value.status, err.value.code) == (404, "FAAS_ERR_NOT_FOUND")

    asyncio.run(asyncio.wait_for(main(), 20))
