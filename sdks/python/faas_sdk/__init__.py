"""faas_sdk: the Python client of a faas server (standard library only)."""

from .aio import AsyncFaaSClient, InstanceStream
from .client import TERMINAL_STATUSES, FaaSClient
from .errors import FaasApiError, FaasConnectionError, FaasError

__all__ = [
    "AsyncFaaSClient",
    "FaaSClient",
    "FaasApiError",
    "FaasConnectionError",
    "FaasError",
    "InstanceStream",
    "TERMINAL_STATUSES",
]
__version__ = "0.1.0"
