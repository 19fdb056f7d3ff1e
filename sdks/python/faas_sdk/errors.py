"""The two ways a call fails: the server answered with an error, or it could not be reached."""

from __future__ import annotations

import json
from typing import Any


#: The status of each code, for errors that arrive as a streamed line (test_errors.py checks it
#: against docs/errors.md).
ERROR_STATUS = {
    "FAAS_ERR_BAD_REQUEST": 400,
    "FAAS_ERR_INVALID_JSON": 400,
    "FAAS_ERR_VALIDATION": 422,
    "FAAS_ERR_BODY_TOO_LARGE": 413,
    "FAAS_ERR_UNAUTHORIZED": 401,
    "FAAS_ERR_TOKEN_EXPIRED": 401,
    "FAAS_ERR_TOKEN_NOT_YET_VALID": 401,
    "FAAS_ERR_TOKEN_INVALID": 401,
    "FAAS_ERR_FORBIDDEN": 403,
    "FAAS_ERR_NOT_FOUND": 404,
    "FAAS_ERR_FUNCTION_NOT_FOUND": 404,
    "FAAS_ERR_VERSION_NOT_FOUND": 404,
    "FAAS_ERR_INVOCATION_NOT_FOUND": 404,
    "FAAS_ERR_API_KEY_NOT_FOUND": 404,
    "FAAS_ERR_SECRET_NOT_FOUND": 404,
    "FAAS_ERR_SECRET_MISSING": 422,
    "FAAS_ERR_SECRET_UNREADABLE": 503,
    "FAAS_ERR_SECRET_KEY_MISMATCH": 503,
    "FAAS_ERR_PROJECT_NOT_FOUND": 404,
    "FAAS_ERR_ROUTE_NOT_FOUND": 404,
    "FAAS_ERR_FUNCTION_EXISTS": 409,
    "FAAS_ERR_PROJECT_EXISTS": 409,
    "FAAS_ERR_HOST_TAKEN": 409,
    "FAAS_ERR_QUOTA_EXCEEDED": 403,
    "FAAS_ERR_ROUTE_CONFLICT": 409,
    "FAAS_ERR_CONFLICT": 409,
    "FAAS_ERR_NOT_DEAD_LETTERED": 409,
    "FAAS_ERR_IDEMPOTENCY_KEY_REUSED": 422,
    "FAAS_ERR_COMPILE_ERROR": 422,
    "FAAS_ERR_INVALID_ARCHIVE": 422,
    "FAAS_ERR_UNSUPPORTED_MEDIA_TYPE": 415,
    "FAAS_ERR_TOO_MANY_REQUESTS": 429,
    "FAAS_ERR_AUTH_THROTTLED": 429,
    "FAAS_ERR_RATE_LIMITED": 429,
    "FAAS_ERR_INSTANCE_LIMIT": 429,
    "FAAS_ERR_FUNCTION_ERROR": 500,
    "FAAS_ERR_FUNCTION_TIMEOUT": 504,
    "FAAS_ERR_INVALID_FUNCTION_RESPONSE": 502,
    "FAAS_ERR_OUT_OF_MEMORY": 500,
    "FAAS_ERR_RUNTIME_UNAVAILABLE": 503,
    "FAAS_ERR_WORKER_LOST": 502,
    "FAAS_ERR_INSTANCE_LOST": 410,
    "FAAS_ERR_STORAGE_FULL": 507,
    "FAAS_ERR_STORAGE_READ_ONLY": 503,
    "FAAS_ERR_STORAGE_UNAVAILABLE": 503,
    "FAAS_ERR_RECORDS_BACKLOG": 503,
    "FAAS_ERR_DATA_DIR_IN_USE": 409,
    "FAAS_ERR_NETWORK_UNAVAILABLE": 503,
    "FAAS_ERR_AUTH_UNAVAILABLE": 503,
    "FAAS_ERR_NOT_IMPLEMENTED": 501,
    "FAAS_ERR_INTERNAL": 500,
}


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
