"""The process that runs a Python function's code, started by the agent (agent.py).

It runs under the function's uid, reads the agent's messages on stdin, loads the handler once,
runs one invocation at a time and writes its messages on fd 3; stdout and stderr are the
function's raw output. The function can reach all of these: the agent checks everything that
comes back. Protocol: images/agent/PROTOCOL.md. Standard library only.
"""

import asyncio
import base64
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback

# The pipe to the agent (the agent passes its number; the function can find it all the same).
CHANNEL_FD = int(os.environ.pop("FAAS_CHANNEL_FD", "3"))
MAX_ERROR_TEXT_BYTES = 60 * 1024

_write_lock = threading.Lock()


def send_raw(data):
    with _write_lock:
        view = memoryview(data)
        while view:
            written = os.write(CHANNEL_FD, view)
            view = view[written:]


def send(message):
    send_raw((json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8"))


def clip_bytes(text, max_bytes):
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return text
    marker = " … [truncated %d bytes]" % (len(encoded) - max_bytes + 64)
    return encoded[: max_bytes - 64].decode("utf-8", "replace") + marker


def serialize_error(exc):
    return {
        "type": (type(exc).__name__ or "Error")[:200],
        "message": clip_bytes(str(exc), MAX_ERROR_TEXT_BYTES),
        "stack": clip_bytes("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                            MAX_ERROR_TEXT_BYTES),
    }


class LogStream(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: each line becomes a log line of the running invocation."""

    def __init__(self, runner, level):
        self._runner = runner
        self._level = level
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._runner.log(self._level, line)
        if len(self._partial) > self._runner.max_log_chars():
            self._runner.log(self._level, self._partial)
            self._partial = ""
        return len(text)

    def flush(self):
        if self._partial:
            self._runner.log(self._level, self._partial)
            self._partial = ""


class AgentLogHandler(logging.Handler):
    def __init__(self, runner):
        super().__init__()
        self._runner = runner

    def emit(self, record):
        level = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn"}.get(record.levelname, "error")
        self._runner.log(level, self.format(record))


# The running invocation's traceparent (None between invocations, or when the call carried none
# and the platform does not trace): what the function's outgoing HTTP requests carry.
_current_traceparent = None


def _trace_http_client(module):
    """Makes every request sent with http.client's HTTPConnection (urllib.request, and requests
    through urllib3, both send with it) carry the running invocation's traceparent, unless the
    function set one: its downstream calls join the caller's trace, as node's fetch does. The
    header is added in endheaders, after the request's own headers, so one the function gave
    (in any case, as str or bytes) is never replaced or doubled."""
    connection = module.HTTPConnection
    putrequest, putheader, endheaders = connection.putrequest, connection.putheader, connection.endheaders

    def traced_putrequest(self, *args, **kwargs):
        self._faas_traceparent_set = False
        return putrequest(self, *args, **kwargs)

    def traced_putheader(self, header, *values):
        name = header.decode("latin-1") if isinstance(header, (bytes, bytearray)) else str(header)
        if name.strip().lower() == "traceparent":
            self._faas_traceparent_set = True
        return putheader(self, header, *values)

    def traced_endheaders(self, *args, **kwargs):
        traceparent = _current_traceparent
        if traceparent is not None and getattr(self, "_faas_traceparent_set", True) is False:
            putheader(self, "traceparent", traceparent)
        self._faas_traceparent_set = True
        return endheaders(self, *args, **kwargs)

    connection.putrequest = traced_putrequest
    connection.putheader = traced_putheader
    connection.endheaders = traced_endheaders


class _TraceHttpClientOnImport:
    """A meta path finder that patches http.client when something first imports it. Importing it
    here instead would cost every Python cold start about 50 ms for functions that never make a
    request."""

    def find_spec(self, name, path=None, target=None):
        if name != "http.client":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                exec_module = spec.loader.exec_module

                def exec_and_trace(module):
                    exec_module(module)
                    _trace_http_client(module)

                spec.loader.exec_module = exec_and_trace
                return spec
            if spec is not None:
                return spec
        return None


def trace_outgoing_requests():
    if "http.client" in sys.modules:
        _trace_http_client(sys.modules["http.client"])
    else:
        sys.meta_path.insert(0, _TraceHttpClientOnImport())


class Context:
    """What a handler gets besides its event."""

    def __init__(self, invocation_id, fn, deadline, logger, trace_id=None, traceparent=None):
        self.invocation_id = invocation_id
        # The W3C trace the invocation runs in (None when the call carried none and the
        # platform does not trace): pass traceparent on in outgoing requests to continue it.
        self.trace_id = trace_id
        self.traceparent = traceparent
        self.function_name = fn.get("name", "")
        self.function_version = fn.get("version", 0)
        self.version = self.function_version
        self.memory_limit_mb = fn.get("memoryMb", 0)
        self.deadline = deadline
        self.log = logger

    def get_remaining_time_ms(self):
        return max(0, int(self.deadline - time.time() * 1000))


class Runner:
    def __init__(self):
        self.handler = None
        self.fn = {}
        self.code_dir = "/faas/code"
        self.limits = {"resultBytes": 6 * 1024 * 1024, "logMessageBytes": 64 * 1024}
        self.current_id = None
        self.logger = logging.getLogger("function")
        self.loop = None

    def max_log_chars(self):
        return self.limits["logMessageBytes"] // 4

    def log(self, level, message):
        send({"t": "log", "id": self.current_id, "level": level,
              "message": clip_bytes(message, self.limits["logMessageBytes"])})

    def in_code(self, path):
        try:
            rel = os.path.relpath(os.path.realpath(path), os.path.realpath(self.code_dir))
        except ValueError:
            return None
        return None if rel.startswith("..") else rel

    def location(self, exc):
        """Where in the function's code a load failure happened: file, line, column."""
        if isinstance(exc, SyntaxError) and exc.filename:
            rel = self.in_code(exc.filename)
            if rel:
                out = {"file": rel}
                if exc.lineno:
                    out["line"] = exc.lineno
                if exc.offset:
                    out["column"] = exc.offset
                return out
        found = None
        for frame in traceback.extract_tb(exc.__traceback__):
            rel = self.in_code(frame.filename)
            if rel:
                found = {"file": rel, "line": frame.lineno or 0}
        return found or {}

    def load(self, message):
        handler = message["handler"]
        module_name, _, attr = handler.rpartition(".")
        if not module_name:
            module_name, attr = handler, "handler"
        os.environ.update(message.get("env") or {})
        self.fn = message.get("fn") or {}
        self.limits = message.get("limits") or self.limits
        self.code_dir = message["dir"]
        os.chdir(self.code_dir)
        sys.path.insert(0, self.code_dir)
        # Dependencies from requirements.txt, installed at deploy.
        packages = os.path.join(self.code_dir, ".python_packages")
        if os.path.isdir(packages):
            sys.path.insert(1, packages)
        module = importlib.import_module(module_name.replace("/", "."))
        fn = getattr(module, attr, None)
        if not callable(fn):
            what = "there is none" if fn is None else "it is a %s" % type(fn).__name__
            error = LookupError('module "%s" has no function named "%s" (%s)' % (module_name, attr, what))
            error.faas_file = self.in_code(getattr(module, "__file__", "") or "")
            raise error
        self.handler = fn

    def result(self, invocation_id, value):
        limit = self.limits["resultBytes"]
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if len(data) > limit:
                return self.too_large(invocation_id, len(data), "")
            send({"t": "result", "id": invocation_id, "ok": True,
                  "value": base64.b64encode(data).decode("ascii"), "valueEncoding": "base64"})
            return
        # Serialized here so an unserializable result fails this invocation, not the process.
        body = json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if len(body) > limit:
            return self.too_large(invocation_id, len(body), " of JSON")
        send_raw(b'{"t":"result","id":%s,"ok":true,"value":%s}\n' % (json.dumps(invocation_id).encode(), body))

    def too_large(self, invocation_id, size, what):
        send({"t": "result", "id": invocation_id, "ok": False, "error": {
            "type": "InvalidResult",
            "message": "The function's result is too large: %d bytes%s, the limit is %d bytes"
                       % (size, what, self.limits["resultBytes"])}})

    def invoke(self, message):
        global _current_traceparent
        invocation_id = message["id"]
        self.current_id = invocation_id
        traceparent = message.get("traceparent")
        _current_traceparent = traceparent if isinstance(traceparent, str) else None
        event = message.get("event")
        if message.get("eventEncoding") == "base64":
            event = base64.b64decode(event)
        context = Context(invocation_id, self.fn, message.get("deadline", 0), self.logger,
                          message.get("traceId"), message.get("traceparent"))
        try:
            value = self.handler(event, context)
            if asyncio.iscoroutine(value):
                value = self.event_loop().run_until_complete(value)
            sys.stdout.flush()
            sys.stderr.flush()
            self.result(invocation_id, value)
        except BaseException as exc:  # noqa: BLE001 - a handler's SystemExit is its failure too
            sys.stdout.flush()
            sys.stderr.flush()
            send({"t": "result", "id": invocation_id, "ok": False, "error": serialize_error(exc)})
        finally:
            self.current_id = None
            _current_traceparent = None

    def event_loop(self):
        """One loop for every invocation, so tasks a handler leaves running go on."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.loop.set_exception_handler(lambda _loop, ctx: self.crash(
                ctx.get("exception") or RuntimeError(ctx.get("message", "asyncio error"))))
            asyncio.set_event_loop(self.loop)
        return self.loop

    def crash(self, exc):
        """An exception nobody handles (a thread, a task) is the running invocation's error."""
        try:
            error = serialize_error(exc)
            send({"t": "fatal", "id": self.current_id, "error": error})
        finally:
            os._exit(1)

    def serve(self):
        stdin = sys.stdin.buffer
        while True:
            line = stdin.readline()
            if not line:
                return
            message = json.loads(line)
            kind = message.get("t")
            if kind == "load":
                try:
                    self.load(message)
                    send({"t": "loaded"})
                except BaseException as exc:  # noqa: BLE001 - any import failure is a load failure
                    error = serialize_error(exc)
                    faas_file = getattr(exc, "faas_file", None)
                    error.update({"file": faas_file} if faas_file else self.location(exc))
                    send({"t": "load_failed", "error": error})
            elif kind == "invoke":
                self.invoke(message)


def main():
    trace_outgoing_requests()
    runner = Runner()
    sys.stdout = LogStream(runner, "log")
    sys.stderr = LogStream(runner, "error")
    handler = AgentLogHandler(runner)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    threading.excepthook = lambda args: runner.crash(args.exc_value)
    runner.serve()


if __name__ == "__main__":
    main()
