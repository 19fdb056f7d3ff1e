"""The faas agent for Python functions: the container's main process.

It connects to the host's socket in the bind-mounted folder, waits for `load`, imports the handler
once, then serves `invoke` messages one at a time. Protocol: images/agent/PROTOCOL.md. Standard
library only.
"""

import base64
import importlib
import io
import json
import logging
import os
import socket
import sys
import time
import traceback

SOCKET_PATH = os.environ.get("FAAS_AGENT_SOCKET", "/faas/agent.sock")


class Channel:
    """Newline-delimited JSON over the Unix socket."""

    def __init__(self, sock):
        self._sock = sock
        self._reader = sock.makefile("rb")

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        self._sock.sendall(data)

    def send_raw(self, line):
        self._sock.sendall(line.encode("utf-8"))

    def receive(self):
        line = self._reader.readline()
        if not line:
            return None
        return json.loads(line)


class LogStream(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: each line becomes a log line of the running invocation."""

    def __init__(self, agent, level):
        self._agent = agent
        self._level = level
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._agent.log(self._level, line)
        return len(text)

    def flush(self):
        if self._partial:
            self._agent.log(self._level, self._partial)
            self._partial = ""


class AgentLogHandler(logging.Handler):
    def __init__(self, agent):
        super().__init__()
        self._agent = agent

    def emit(self, record):
        level = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn"}.get(record.levelname, "error")
        self._agent.log(level, self.format(record))


class Context:
    """What a handler gets besides its event."""

    def __init__(self, invocation_id, fn, deadline, logger):
        self.invocation_id = invocation_id
        self.function_name = fn.get("name", "")
        self.function_version = fn.get("version", 0)
        self.version = self.function_version
        self.memory_limit_mb = fn.get("memoryMb", 0)
        self.deadline = deadline
        self.log = logger

    def get_remaining_time_ms(self):
        return max(0, int(self.deadline - time.time() * 1000))


def serialize_error(exc):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


class Agent:
    def __init__(self, channel):
        self.channel = channel
        self.handler = None
        self.fn = {}
        self.current_id = None
        self.logger = logging.getLogger("function")

    def log(self, level, message):
        self.channel.send({"t": "log", "id": self.current_id, "level": level, "message": message})

    def load(self, message):
        handler = message["handler"]
        module_name, _, attr = handler.rpartition(".")
        if not module_name:
            module_name, attr = handler, "handler"
        os.environ.update(message.get("env") or {})
        self.fn = message.get("fn") or {}
        os.chdir(message["dir"])
        sys.path.insert(0, message["dir"])
        module = importlib.import_module(module_name.replace("/", "."))
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise LookupError(f'module "{module_name}" has no function named "{attr}"')
        self.handler = fn

    def invoke(self, message):
        invocation_id = message["id"]
        self.current_id = invocation_id
        event = message.get("event")
        if message.get("eventEncoding") == "base64":
            event = base64.b64decode(event)
        context = Context(invocation_id, self.fn, message.get("deadline", 0), self.logger)
        try:
            value = self.handler(event, context)
            sys.stdout.flush()
            sys.stderr.flush()
            if isinstance(value, (bytes, bytearray)):
                reply = {"t": "result", "id": invocation_id, "ok": True,
                         "value": base64.b64encode(value).decode("ascii"), "valueEncoding": "base64"}
                self.channel.send(reply)
            else:
                # Serialize here so an unserializable result fails this invocation, not the agent.
                body = json.dumps(value, separators=(",", ":"))
                self.channel.send_raw(
                    '{"t":"result","id":%s,"ok":true,"value":%s}\n' % (json.dumps(invocation_id), body))
        except BaseException as exc:  # noqa: BLE001 - a handler's SystemExit is its failure too
            sys.stdout.flush()
            sys.stderr.flush()
            self.channel.send({"t": "result", "id": invocation_id, "ok": False, "error": serialize_error(exc)})
        finally:
            self.current_id = None

    def serve(self):
        while True:
            message = self.channel.receive()
            if message is None:
                return
            kind = message.get("t")
            if kind == "load":
                try:
                    self.load(message)
                    self.channel.send({"t": "loaded"})
                except BaseException as exc:  # noqa: BLE001 - any import failure is a load failure
                    self.channel.send({"t": "load_failed", "error": serialize_error(exc)})
            elif kind == "invoke":
                self.invoke(message)


def connect():
    for _ in range(50):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(SOCKET_PATH)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            time.sleep(0.02)
    sys.exit(2)


def main():
    channel = Channel(connect())
    agent = Agent(channel)
    sys.stdout = LogStream(agent, "log")
    sys.stderr = LogStream(agent, "error")
    handler = AgentLogHandler(agent)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    channel.send({"t": "hello", "runtime": "python", "pid": os.getpid(), "version": sys.version.split()[0]})
    agent.serve()


if __name__ == "__main__":
    main()
