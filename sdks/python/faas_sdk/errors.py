"""The two ways a call fails: the server answered with an error, or it could not be reached."""

from __future__ import annotations

import json
from typing import Any


class FaasError(Exception):
    """Base of every error this SDK raises."""


class FaasApiError(FaasError):
    """An error answer of the API: its HTTP status and stable code (docs/errors.md)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class FaasConnectionError(FaasError):
    """The server could not be reached, or the connection broke."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        super().__init__(f"Cannot reach the faas server at {url}: {cause}")
        self.url = url
        self.cause = cause


def error_from_body(status: int, body: bytes) -> FaasApiError:
    """The one place an error answer becomes an exception; a body that is not ours keeps its text."""
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return FaasApiError(status, error["code"], str(error.get("message", "")), error.get("details"))
    except ValueError:
        pass
    return FaasApiError(status, f"HTTP_{status}", text[:500] or f"HTTP {status}")
