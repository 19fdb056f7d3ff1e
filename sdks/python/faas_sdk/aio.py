"""
The asyncio client: the same methods as FaaSClient, awaited (each request runs in a worker thread:
the standard library's HTTP client blocks), and an instance's event stream over a WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any, Awaitable, Callable, Concatenate, Dict, Optional, ParamSpec, TypeVar

from .client import TERMINAL_STATUSES, FaaSClient
from .transport import enc
from .types import Invocation, InstanceEvent
from .websocket import WebSocket, WebSocketClosed

P = ParamSpec("P")
R = TypeVar("R")


def _threaded(method: Callable[Concatenate[FaaSClient, P], R]) -> Callable[Concatenate["AsyncFaaSClient", P], Awaitable[R]]:
    async def call(self: "AsyncFaaSClient", *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, self.sync, *args, **kwargs)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class InstanceStream:
    """
    An instance's events (docs/instances.md "Stream"): `async for event in stream`, `await
    stream.send({...})` to run commands in it. Opens on first use; `async with` closes it.
    The iteration ends when the connection closes; a refused stream raises the API's error
    (FAAS_ERR_NOT_FOUND for an unknown instance).
    """

    def __init__(self, url: str, headers: Dict[str, str]) -> None:
        self._url = url
        self._headers = headers
        self._socket: Optional[WebSocket] = None
        self._opening: Optional[asyncio.Future[WebSocket]] = None

    async def open(self) -> "InstanceStream":
        if self._socket is None:
            if self._opening is None:
                self._opening = asyncio.ensure_future(WebSocket.connect(self._url, self._headers))
            self._socket = await self._opening
        return self

    @property
    def close_code(self) -> Optional[int]:
        status = self._socket.close_status if self._socket else None
        return status[0] if status else None

    async def send(self, command: Dict[str, Any]) -> None:
        """A command: `{"type": "exec", "command": "make test"}`, `stdin`, `signal`, `checkpoint`, …"""
        await self.open()
        assert self._socket is not None
        await self._socket.send_text(json.dumps(command))

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()

    async def __aenter__(self) -> "InstanceStream":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> "InstanceStream":
        return self

    async def __anext__(self) -> InstanceEvent:
        await self.open()
        assert self._socket is not None
        try:
            return json.loads(await self._socket.receive_text())
        except WebSocketClosed:
            raise StopAsyncIteration from None


class AsyncFaaSClient:
    """
    >>> async with AsyncFaaSClient() as client:
    ...     result = await client.execute("echo hi")
    ...     async with client.stream(instance_id) as ws:
    ...         await ws.send({"type": "exec", "command": "npm test"})
    ...         async for event in ws:
    ...             if event["type"] == "exit":
    ...                 break
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, timeout: float = 330.0) -> None:
        self.sync = FaaSClient(base_url, api_key, timeout)

    @property
    def base_url(self) -> str:
        return self.sync.base_url

    async def __aenter__(self) -> "AsyncFaaSClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def stream(self, instance_id: str, heartbeat_ms: Optional[int] = None) -> InstanceStream:
        parts = urllib.parse.urlsplit(self.sync.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}{parts.path}/api/v1/instances/{enc(instance_id)}/stream"
        if heartbeat_ms is not None:
            url += f"?heartbeat_ms={heartbeat_ms}"
        return InstanceStream(url, self.sync._http.auth_headers())

    async def wait(self, invocation_id: str, timeout: float = 60.0, interval: float = 0.2) -> Invocation:
        """Polls until the invocation is final, without holding a thread while it waits."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while True:
            invocation = await self.get_invocation(invocation_id)
            if invocation["status"] in TERMINAL_STATUSES:
                return invocation
            if loop.time() > until:
                raise TimeoutError(f"Invocation {invocation_id} is still {invocation['status']} after {timeout} s")
            await asyncio.sleep(interval)

    health = _threaded(FaaSClient.health)
    deploy = _threaded(FaaSClient.deploy)
    create_function = _threaded(FaaSClient.create_function)
    update_function = _threaded(FaaSClient.update_function)
    get_function = _threaded(FaaSClient.get_function)
    list_functions = _threaded(FaaSClient.list_functions)
    delete_function = _threaded(FaaSClient.delete_function)
    list_versions = _threaded(FaaSClient.list_versions)
    invoke = _threaded(FaaSClient.invoke)
    invoke_async = _threaded(FaaSClient.invoke_async)
    get_invocation = _threaded(FaaSClient.get_invocation)
    list_invocations = _threaded(FaaSClient.list_invocations)
    tail_logs = _threaded(FaaSClient.tail_logs)
    logs = _threaded(FaaSClient.logs)
    execute = _threaded(FaaSClient.execute)
    execute_advanced = _threaded(FaaSClient.execute_advanced)
    fork = _threaded(FaaSClient.fork)
    create_instance = _threaded(FaaSClient.create_instance)
    list_instances = _threaded(FaaSClient.list_instances)
    get_instance = _threaded(FaaSClient.get_instance)
    exec = _threaded(FaaSClient.exec)
    stop_instance = _threaded(FaaSClient.stop_instance)
    start_instance = _threaded(FaaSClient.start_instance)
    delete_instance = _threaded(FaaSClient.delete_instance)
    read_file = _threaded(FaaSClient.read_file)
    write_file = _threaded(FaaSClient.write_file)
    list_files = _threaded(FaaSClient.list_files)
    create_snapshot = _threaded(FaaSClient.create_snapshot)
    list_snapshots = _threaded(FaaSClient.list_snapshots)
    get_snapshot = _threaded(FaaSClient.get_snapshot)
    delete_snapshot = _threaded(FaaSClient.delete_snapshot)
    restore_snapshot = _threaded(FaaSClient.restore_snapshot)
    fork_snapshot = _threaded(FaaSClient.fork_snapshot)
