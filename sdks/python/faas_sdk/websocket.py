"""
A small WebSocket client (RFC 6455) on asyncio streams, for an instance's event stream: text
messages, fragmentation, ping/pong and the close handshake. The standard library has none.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
import urllib.parse
from typing import Mapping, Optional, Tuple

from .errors import FaasConnectionError, error_from_body

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A message larger than this closes the connection (1009) rather than filling memory.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class WebSocketClosed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._closed: Optional[Tuple[int, str]] = None
        self._close_sent = False

    @property
    def close_status(self) -> Optional[Tuple[int, str]]:
        return self._closed

    @classmethod
    async def connect(cls, url: str, headers: Mapping[str, str], timeout: float = 30.0) -> "WebSocket":
        """Opens the connection; an HTTP answer other than 101 raises its FaasApiError."""
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ssl.create_default_context() if secure else None,
                                        limit=MAX_MESSAGE_BYTES),
                timeout,
            )
        except (OSError, asyncio.TimeoutError) as err:
            raise FaasConnectionError(url, err) from err
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ")[1])
            answer = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    answer[name.strip().lower()] = value.strip()
            if status != 101:
                length = int(answer.get("content-length", "0") or 0)
                body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
                writer.close()
                raise error_from_body(status, body)
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
        ) as err:
            # Not a WebSocket server's answer (or headers without end): the connection is the fault.
            writer.close()
            raise FaasConnectionError(url, err) from err
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if answer.get("sec-websocket-accept") != expected:
            writer.close()
            raise FaasConnectionError(url, f"the server's WebSocket handshake did not match: {head!r}")
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        if self._closed or self._close_sent:
            raise WebSocketClosed(*(self._closed or (1006, "closing")))
        await self._send_frame(0x1, text.encode())

    async def receive_text(self) -> str:
        """The next text message; WebSocketClosed once the connection closed."""
        fragments: list[bytes] = []
        size = 0
        while True:
            if self._closed:
                raise WebSocketClosed(*self._closed)
            try:
                fin, opcode, payload = await self._read_frame()
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
                self._closed = (1006, "connection lost")
                self._writer.close()
                raise WebSocketClosed(*self._closed) from None
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self._closed = (code, payload[2:].decode("utf-8", "replace"))
                if not self._close_sent:
                    await self._send_frame(0x8, payload[:2], ignore_errors=True)
                self._writer.close()
                raise WebSocketClosed(*self._closed)
            if opcode == 0x9:
                await self._send_frame(0xA, payload, ignore_errors=True)
                continue
            if opcode == 0xA:
                continue
            size += len(payload)
            if size > MAX_MESSAGE_BYTES:
                await self.close(1009, "message too big")
                raise WebSocketClosed(1009, "message too big")
            fragments.append(payload)
            if fin:
                return b"".join(fragments).decode("utf-8", "replace")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Sends a close frame and waits briefly for the server's; idempotent."""
        if self._closed:
            return
        if not self._close_sent:
            self._close_sent = True
            await self._send_frame(0x8, struct.pack("!H", code) + reason.encode(), ignore_errors=True)
        try:
            while not self._closed:
                await asyncio.wait_for(self.receive_text(), 5)
        except (WebSocketClosed, asyncio.TimeoutError):
            pass
        self._closed = self._closed or (code, reason)
        self._writer.close()

    async def _read_frame(self) -> Tuple[bool, int, bytes]:
        first, second = await self._reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self._reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self._reader.readexactly(8))[0]
        if length > MAX_MESSAGE_BYTES:
            raise ConnectionError("frame too large")
        mask = await self._reader.readexactly(4) if second & 0x80 else None
        payload = await self._reader.readexactly(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    async def _send_frame(self, opcode: int, payload: bytes, ignore_errors: bool = False) -> None:
        # A client masks every frame (RFC 6455 5.3).
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self._writer.write(header + mask + masked)
            await self._writer.drain()
        except (ConnectionError, OSError):
            if not ignore_errors:
                raise
