"""HTTP for the clients, on the standard library: the bearer key, JSON bodies, errors as exceptions."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Union

from .errors import FaasApiError, FaasConnectionError, error_from_body

Body = Union[str, bytes, None]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as err:
            text = self.body[:200].decode("utf-8", "replace")
            raise FaasApiError(self.status, f"HTTP_{self.status}", f"Expected JSON, got: {text}") from err


def encode_event(event: Any) -> Tuple[Body, Optional[str]]:
    """A str is sent as text/plain, bytes as octet-stream, anything else as JSON (as the TS SDK)."""
    if event is None:
        return None, None
    if isinstance(event, str):
        return event.encode(), "text/plain; charset=utf-8"
    if isinstance(event, (bytes, bytearray, memoryview)):
        return bytes(event), "application/octet-stream"
    return json.dumps(event).encode(), "application/json"


def query(params: Mapping[str, Any]) -> str:
    pairs = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None and v != ""]
    return f"?{urllib.parse.urlencode(pairs)}" if pairs else ""


def enc(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Transport:
    def __init__(self, base_url: str, api_key: Optional[str], timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def auth_headers(self) -> Dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def request(
        self,
        method: str,
        path: str,
        body: Body = None,
        content_type: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        ok_statuses: Tuple[int, ...] = (),
        timeout: Optional[float] = None,
    ) -> Response:
        all_headers = {**(headers or {}), **self.auth_headers()}
        if content_type:
            all_headers["content-type"] = content_type
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as res:
                return Response(res.status, dict(res.headers.items()), res.read())
        except urllib.error.HTTPError as err:
            payload = err.read()
            if err.code in ok_statuses:
                return Response(err.code, dict(err.headers.items()), payload)
            raise error_from_body(err.code, payload) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
            raise FaasConnectionError(self.base_url, getattr(err, "reason", err)) from err

    def lines(self, method: str, path: str, payload: Any) -> Iterator[bytes]:
        """The non-empty lines of a streamed (NDJSON) answer, as they arrive."""
        headers = {**self.auth_headers(), "content-type": "application/json"}
        req = urllib.request.Request(self.base_url + path, data=json.dumps(payload).encode(), method=method, headers=headers)
        try:
            res = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            raise error_from_body(err.code, err.read()) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
            raise FaasConnectionError(self.base_url, getattr(err, "reason", err)) from err
        with res:
            try:
                for line in res:
                    if line.strip():
                        yield line
            except (socket.timeout, ConnectionError, OSError) as err:
                raise FaasConnectionError(self.base_url, err) from err

    def json(self, method: str, path: str, payload: Any = None, **options: Any) -> Any:
        if payload is not None:
            options.setdefault("content_type", "application/json")
            return self.request(method, path, body=json.dumps(payload).encode(), **options).json()
        return self.request(method, path, **options).json()
