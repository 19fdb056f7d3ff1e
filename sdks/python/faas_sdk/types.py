"""The API's answers, as TypedDicts: the JSON exactly as docs/api.md and docs/instances.md show it."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

Command = Union[str, List[str]]


class RouteSpec(TypedDict):
    method: str
    path: str


class _FunctionVersionRequired(TypedDict):
    name: str
    version: int
    runtime: str
    handler: str
    env: Dict[str, str]
    timeoutMs: int
    memoryMb: int
    maxConcurrency: int
    maxRetries: int
    routes: List[RouteSpec]
    description: str
    codeSha256: str
    codeSizeBytes: int
    artifactSha256: str
    createdAt: str


class FunctionVersion(_FunctionVersionRequired, total=False):
    image: str
    command: Command
    isolation: str
    network: bool
    schedules: List[str]


class FunctionRecord(TypedDict):
    name: str
    latestVersion: int
    createdAt: str
    updatedAt: str
    latest: FunctionVersion


class LogLine(TypedDict):
    ts: int
    level: str
    message: str


class StoredLogLine(LogLine):
    invocationId: str
    functionName: str
    seq: int


class InvocationError(TypedDict, total=False):
    type: str
    message: str
    stack: str


class _InvocationRequired(TypedDict):
    id: str
    functionName: str
    version: int
    mode: Literal["sync", "async"]
    trigger: str
    status: str
    attempts: int
    createdAt: str


class Invocation(_InvocationRequired, total=False):
    idempotencyKey: str
    result: Any
    error: InvocationError
    startedAt: str
    finishedAt: str
    durationMs: float
    cpuTimeMs: float
    peakMemoryBytes: int
    logs: List[LogLine]


class ExecuteResult(TypedDict, total=False):
    stdout: str
    stderr: str
    exit_code: int
    duration_ms: float
    timed_out: bool
    oom_killed: bool
    truncated: bool
    mode: str
    cache: Literal["hit", "miss"]
    execution_id: str
    snapshot_id: str
    # persistent mode
    instance_id: str
    instance: "InstanceView"


class InstanceView(TypedDict):
    id: str
    status: str
    reason: Optional[str]
    image: str
    command: Optional[List[str]]
    env: List[str]
    isolation: str
    memory_mb: int
    cpus: float
    pids_limit: int
    disk_mb: int
    network: bool
    idle_ttl_ms: int
    dependency_caches: List[str]
    created_at: str
    last_active_at: str
    processes: List[Dict[str, Any]]
    watchers: int


class InstanceExecResult(TypedDict):
    stdout: str
    stderr: str
    exit_code: int
    pid: Optional[int]
    duration_ms: float
    timed_out: bool
    truncated: bool


class FileEntry(TypedDict):
    name: str
    type: str
    size: int
    modified_at: str


class FolderListing(TypedDict):
    path: str
    entries: List[FileEntry]


class SnapshotView(TypedDict):
    id: str
    name: Optional[str]
    instance_id: str
    execution_id: Optional[str]
    kind: Literal["memory", "filesystem"]
    image: str
    isolation: str
    size_bytes: int
    created_at: str


class Page(TypedDict, total=False):
    items: List[Any]
    nextCursor: str


class InstanceEvent(TypedDict, total=False):
    """One message of an instance's stream; `type` says which fields it has (docs/instances.md)."""

    type: str
    seq: int
    time: int
    data: Any
    process: int
    pid: int
    code: int
    event: str
    command: str
    path: str
    name: str
    state: str
    instance: InstanceView
    error: Dict[str, Any]
    snapshot: SnapshotView


class SyncResult(TypedDict):
    result: Any
    invocation_id: str
    version: int
    duration_ms: float
