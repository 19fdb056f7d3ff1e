"""The synchronous client of the faas HTTP API (docs/api.md, docs/instances.md)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Iterator, List, Literal, Mapping, Optional, cast

from .errors import ERROR_STATUS, FaasApiError
from .transport import Transport, enc, encode_event, query
from .types import (
    Command,
    ExecuteResult,
    FolderListing,
    FunctionRecord,
    FunctionVersion,
    InstanceExecResult,
    InstanceView,
    Invocation,
    Page,
    SnapshotView,
    StoredLogLine,
    SyncResult,
)

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "timed_out", "out_of_memory", "dead_lettered"})
DEFAULT_URL = "http://localhost:8080"


class FaaSClient:
    """
    A client of a faas server. Every failure raises FaasApiError (the server answered: `.status`,
    `.code`, `.details`) or FaasConnectionError.

    >>> client = FaaSClient()  # FAAS_URL (else http://localhost:8080) and FAAS_API_KEY, as the CLI
    >>> client.execute("echo 'Hello!'")["stdout"]
    'Hello!\\n'
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, timeout: float = 330.0) -> None:
        self._http = Transport(
            base_url or os.environ.get("FAAS_URL") or DEFAULT_URL,
            api_key if api_key is not None else os.environ.get("FAAS_API_KEY"),
            timeout,
        )

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def api_key(self) -> Optional[str]:
        return self._http.api_key

    def health(self) -> Dict[str, Any]:
        return cast(Dict[str, Any], self._http.json("GET", "/health"))

    # Functions

    def deploy(self, name: str, spec: Mapping[str, Any]) -> FunctionRecord:
        """Creates or replaces the function (PUT): a new version when code or config changed."""
        return cast(FunctionRecord, self._http.json("PUT", f"/api/v1/functions/{enc(name)}", dict(spec)))

    def create_function(self, spec: Mapping[str, Any]) -> FunctionRecord:
        """Creates it (POST, `spec["name"]`): 409 FAAS_ERR_FUNCTION_EXISTS when it exists."""
        return cast(FunctionRecord, self._http.json("POST", "/api/v1/functions", dict(spec)))

    def update_function(self, name: str, patch: Mapping[str, Any]) -> FunctionRecord:
        return cast(FunctionRecord, self._http.json("PATCH", f"/api/v1/functions/{enc(name)}", dict(patch)))

    def get_function(self, name: str) -> FunctionRecord:
        return cast(FunctionRecord, self._http.json("GET", f"/api/v1/functions/{enc(name)}"))

    def list_functions(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        return cast(Page, self._http.json("GET", f"/api/v1/functions{query({'limit': limit, 'cursor': cursor})}"))

    def functions(self, page_size: int = 100) -> Iterator[FunctionRecord]:
        """Every function, page after page."""
        cursor: Optional[str] = None
        while True:
            page = self.list_functions(limit=page_size, cursor=cursor)
            yield from page.get("items", [])
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def delete_function(self, name: str) -> None:
        self._http.request("DELETE", f"/api/v1/functions/{enc(name)}")

    def list_versions(self, name: str, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        path = f"/api/v1/functions/{enc(name)}/versions{query({'limit': limit, 'cursor': cursor})}"
        return cast(Page, self._http.json("GET", path))

    # Invoking

    def invoke(self, name: str, event: Any = None, version: Optional[int] = None) -> SyncResult:
        """
        Runs the function and waits. A str event is sent as text, bytes as octets, anything else as
        JSON; a function that returned bytes gives bytes. A failed invocation raises FaasApiError
        (FAAS_ERR_FUNCTION_ERROR, FAAS_ERR_FUNCTION_TIMEOUT, …).
        """
        body, content_type = encode_event(event)
        res = self._http.request(
            "POST", f"/api/v1/functions/{enc(name)}/invoke{query({'version': version})}", body, content_type
        )
        is_bytes = res.headers.get("Content-Type", res.headers.get("content-type", "")) == "application/octet-stream"
        header = {k.lower(): v for k, v in res.headers.items()}
        return {
            "result": res.body if is_bytes else res.json(),
            "invocation_id": header.get("x-invocation-id", ""),
            "version": int(header.get("x-function-version", "0") or 0),
            "duration_ms": float(header.get("x-duration-ms", "0") or 0),
        }

    def invoke_async(
        self, name: str, event: Any = None, version: Optional[int] = None, idempotency_key: Optional[str] = None
    ) -> Dict[str, Any]:
        """Queues the invocation: `{"invocation_id", "duplicate"}` (a repeated key answers the first)."""
        body, content_type = encode_event(event)
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        path = f"/api/v1/functions/{enc(name)}/invoke{query({'version': version, 'async': 'true'})}"
        out = self._http.request("POST", path, body, content_type, headers=headers).json()
        return {"invocation_id": out["invocationId"], "duplicate": out.get("duplicate") is True}

    def get_invocation(self, invocation_id: str) -> Invocation:
        return cast(Invocation, self._http.json("GET", f"/api/v1/invocations/{enc(invocation_id)}"))

    def list_invocations(
        self,
        function_name: Optional[str] = None,
        status: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page:
        params = {"functionName": function_name, "status": status, "since": since, "until": until}
        return cast(Page, self._http.json("GET", f"/api/v1/invocations{query({**params, 'limit': limit, 'cursor': cursor})}"))

    def wait(self, invocation_id: str, timeout: float = 60.0, interval: float = 0.2) -> Invocation:
        """Polls until the invocation is final (succeeded, failed, timed out, …); TimeoutError after `timeout` s."""
        until = time.monotonic() + timeout
        while True:
            invocation = self.get_invocation(invocation_id)
            if invocation["status"] in TERMINAL_STATUSES:
                return invocation
            if time.monotonic() > until:
                raise TimeoutError(f"Invocation {invocation_id} is still {invocation['status']} after {timeout} s")
            time.sleep(interval)

    def tail_logs(
        self, function_name: Optional[str] = None, after_seq: Optional[int] = None, limit: Optional[int] = None
    ) -> Dict[str, Any]:
        """`{"items": [StoredLogLine…], "nextSeq"}`: pass `nextSeq` as `after_seq` to follow."""
        params = {"functionName": function_name, "afterSeq": after_seq, "limit": limit}
        return cast(Dict[str, Any], self._http.json("GET", f"/api/v1/logs{query(params)}"))

    def logs(self, function_name: Optional[str] = None) -> List[StoredLogLine]:
        """Every stored log line of the function (or of all), oldest first."""
        lines: List[StoredLogLine] = []
        after: Optional[int] = None
        while True:
            page = self.tail_logs(function_name, after, 500)
            lines.extend(page["items"])
            if not page["items"]:
                return lines
            after = page["nextSeq"]

    # Execute (docs/api.md "Execute")

    def execute(self, command: Command, image: Optional[str] = None, **fields: Any) -> ExecuteResult:
        """
        Runs a command in a fresh container: a str with `/bin/sh -c`, a list as argv. Other fields
        (`files`, `env`, `stdin`, `timeout_ms`, `memory_mb`, `network`, …) as the API names them.
        A non-zero exit, a timeout or an OOM kill is a result, not an error.
        """
        request = {"command": command, **fields}
        if image is not None:
            request["image"] = image
        return cast(ExecuteResult, self._http.json("POST", "/api/v1/execute", request))

    def execute_stream(self, command: Command, image: Optional[str] = None, **fields: Any) -> Iterator[Dict[str, Any]]:
        """
        Runs a command and yields its output as it is written: `{"type": "stdout"|"stderr", "data"}`
        events, then the `{"type": "exit", "exit_code", …}` summary. With `mode=` (not persistent)
        it streams an advanced execute. An error line raises FaasApiError.
        """
        request = {"command": command, **fields}
        if image is not None:
            request["image"] = image
        path = "/api/v1/execute/advanced?stream=true" if "mode" in fields else "/api/v1/execute/stream"
        for line in self._http.lines("POST", path, request):
            event = json.loads(line)
            if event.get("type") == "error":
                error = event.get("error") or {}
                code = str(error.get("code", "FAAS_ERR_INTERNAL"))
                raise FaasApiError(ERROR_STATUS.get(code, 500), code, str(error.get("message", "")), error.get("details"))
            yield event

    def execute_advanced(
        self,
        command: Command,
        mode: Literal["ephemeral", "cached", "checkpointed", "branched", "persistent"],
        **fields: Any,
    ) -> ExecuteResult:
        """With a mode: `cached`, `checkpointed` (`checkpoint=`), `branched` (`parent=`), `persistent`."""
        return cast(ExecuteResult, self._http.json("POST", "/api/v1/execute/advanced", {"command": command, "mode": mode, **fields}))

    def fork(self, parent: str, command: Command, **fields: Any) -> ExecuteResult:
        """Runs `command` in a branch of `parent` (a snapshot id or a checkpointed run's `execution_id`)."""
        return self.execute_advanced(command, "branched", parent=parent, **fields)

    # Instances (docs/instances.md)

    def create_instance(self, **fields: Any) -> InstanceView:
        """`image`, `command`, `env`, `memory_mb`, `isolation` ('runc' or 'gvisor'), `idle_ttl_ms`, …"""
        return cast(InstanceView, self._http.json("POST", "/api/v1/instances", fields))

    def list_instances(self) -> List[InstanceView]:
        return cast(List[InstanceView], self._http.json("GET", "/api/v1/instances")["items"])

    def get_instance(self, instance_id: str) -> InstanceView:
        return cast(InstanceView, self._http.json("GET", f"/api/v1/instances/{enc(instance_id)}"))

    def exec(self, instance_id: str, command: Command, **fields: Any) -> InstanceExecResult:
        """Runs a command in the instance and waits (`env`, `cwd`, `stdin`, `timeout_ms`)."""
        path = f"/api/v1/instances/{enc(instance_id)}/exec"
        return cast(InstanceExecResult, self._http.json("POST", path, {"command": command, **fields}))

    def stop_instance(self, instance_id: str) -> InstanceView:
        return cast(InstanceView, self._http.json("POST", f"/api/v1/instances/{enc(instance_id)}/stop"))

    def start_instance(self, instance_id: str) -> InstanceView:
        return cast(InstanceView, self._http.json("POST", f"/api/v1/instances/{enc(instance_id)}/start"))

    def delete_instance(self, instance_id: str) -> None:
        self._http.request("DELETE", f"/api/v1/instances/{enc(instance_id)}")

    # Files

    def read_file(self, instance_id: str, path: str) -> bytes:
        """A file's bytes (relative paths are under /workspace); a folder raises 400 (use list_files)."""
        res = self._http.request("GET", self._files_path(instance_id, path))
        if _is_json(res.headers):
            raise FaasApiError(400, "FAAS_ERR_BAD_REQUEST", f"{path} is not a file: use list_files", {"path": path})
        return res.body

    def write_file(self, instance_id: str, path: str, data: str | bytes) -> Dict[str, Any]:
        body = data.encode() if isinstance(data, str) else bytes(data)
        res = self._http.request("PUT", self._files_path(instance_id, path), body, "application/octet-stream")
        return cast(Dict[str, Any], res.json())

    def list_files(self, instance_id: str, path: str = ".") -> FolderListing:
        res = self._http.request("GET", self._files_path(instance_id, path))
        if not _is_json(res.headers):
            raise FaasApiError(400, "FAAS_ERR_BAD_REQUEST", f"{path} is not a folder: use read_file", {"path": path})
        return cast(FolderListing, res.json())

    # Snapshots

    def create_snapshot(self, instance_id: str, name: Optional[str] = None) -> SnapshotView:
        body: Dict[str, Any] = {"instance_id": instance_id}
        if name:
            body["name"] = name
        return cast(SnapshotView, self._http.json("POST", "/api/v1/snapshots", body))

    def list_snapshots(self, instance_id: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        params = {"instance_id": instance_id, "limit": limit, "cursor": cursor}
        return cast(Page, self._http.json("GET", f"/api/v1/snapshots{query(params)}"))

    def get_snapshot(self, snapshot_id: str) -> SnapshotView:
        return cast(SnapshotView, self._http.json("GET", f"/api/v1/snapshots/{enc(snapshot_id)}"))

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._http.request("DELETE", f"/api/v1/snapshots/{enc(snapshot_id)}")

    def restore_snapshot(self, snapshot_id: str) -> InstanceView:
        return cast(InstanceView, self._http.json("POST", f"/api/v1/snapshots/{enc(snapshot_id)}/restore"))

    def fork_snapshot(self, snapshot_id: str, count: int = 2) -> List[InstanceView]:
        """`count` (1–16) independent instances from one snapshot: all or none."""
        out = self._http.json("POST", f"/api/v1/snapshots/{enc(snapshot_id)}/fork", {"count": count})
        return cast(List[InstanceView], out["instances"])

    def _files_path(self, instance_id: str, path: str) -> str:
        return f"/api/v1/instances/{enc(instance_id)}/files{query({'path': path})}"


def _is_json(headers: Mapping[str, str]) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get("content-type", "").startswith("application/json")


__all__ = ["FaaSClient", "TERMINAL_STATUSES"]
