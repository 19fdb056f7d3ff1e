"""The faas agent for Python functions: the container's main process (under its init).

It starts as root holding only CAP_SETUID and CAP_SETGID, starts the function's process
(runner.py) under the function's uid, drops itself to its own uid (after which neither holds a
capability), and only then connects to the host's socket, which only its uid may connect to. It
passes the host's messages to the function's process and checks everything that comes back
before the host sees it. Protocol: images/agent/PROTOCOL.md. Standard library only.
"""

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

from protocol import (
    DEFAULT_LIMITS,
    LineSplitter,
    ProtocolError,
    check_function_message,
    max_message_bytes,
)

SOCKET_PATH = os.environ.get("FAAS_AGENT_SOCKET", "/faas/agent.sock")
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
# The go image runs this agent too: its function's process is the Go launcher (images/go).
RUNNER_COMMAND = [os.environ["FAAS_RUNNER"]] if os.environ.get("FAAS_RUNNER") else [sys.executable, "-u", RUNNER]
RUNTIME = os.environ.get("FAAS_RUNTIME", "python")
# The host is trusted, but its lines are bounded too: an event is at most the body limit, in base64.
MAX_HOST_LINE_BYTES = 256 * 1024 * 1024
STDERR_TAIL_BYTES = 4096
READ_BYTES = 256 * 1024
# The host writes an invoke as {"t":"invoke","id":…,…} and is trusted: its id is read from the
# head, the event is not parsed.
INVOKE_HEAD = re.compile(rb'^\{"t":"invoke","id":("(?:[^"\\]|\\.)*")')


def ids(spec):
    parts = [int(p) for p in spec.split(":")]
    return parts[0], parts[-1]


def die(message):
    sys.stderr.write("faas agent: %s\n" % message)
    sys.stderr.flush()
    os._exit(70)


class Agent:
    def __init__(self):
        self.state = {"current": None, "loading": False, "limits": DEFAULT_LIMITS}
        self.sock = None
        self.child = None
        self.channel_fd = None
        self.ending = False
        self.stderr_tail = b""
        self.partial = {"log": "", "error": ""}
        self.from_function = LineSplitter(max_message_bytes(DEFAULT_LIMITS))
        self.from_host = LineSplitter(MAX_HOST_LINE_BYTES)
        self.selector = selectors.DefaultSelector()

    # 1. The function's process, under its own uid, before the host's socket exists here.
    def start_function(self, user):
        read_fd, write_fd = os.pipe()
        uid, gid = user
        env = {"HOME": "/tmp", "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "FAAS_CHANNEL_FD": str(write_fd)}
        self.child = subprocess.Popen(
            RUNNER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=(write_fd,), user=uid, group=gid, extra_groups=[],
            cwd="/tmp", env=env, close_fds=True)
        os.close(write_fd)
        self.channel_fd = read_fd

    # 2. Down to the agent's own uid: no capability is left to this process after it.
    @staticmethod
    def drop_privileges(user):
        uid, gid = user
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        with open("/proc/self/status") as status:
            text = status.read()
        for field in ("CapPrm", "CapEff"):
            match = re.search(r"^%s:\s*([0-9a-f]+)$" % field, text, re.M)
            if not match or int(match.group(1), 16) != 0:
                die("%s is %s after dropping privileges" % (field, match and match.group(1)))

    def connect(self):
        for _ in range(50):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(SOCKET_PATH)
                self.sock = sock
                return
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                time.sleep(0.02)
            except OSError as err:
                die("connecting to %s failed: %s" % (SOCKET_PATH, err))
        die("connecting to %s failed" % SOCKET_PATH)

    def send_host(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.finish(0)

    def send(self, message):
        self.send_host((json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8"))

    def fatal(self, kind, message, exit_code):
        """Tells the host the function's process is broken, and ends this container."""
        if self.ending:
            return
        self.ending = True
        self.send({"t": "fatal", "id": self.state["current"], "error": {"type": kind, "message": message}})
        if self.stderr_tail:
            os.write(2, self.stderr_tail)
        self.finish(exit_code)

    @staticmethod
    def finish(exit_code):
        # The function's process is another uid's, which this one cannot signal: it ends with the
        # container, whose init exits when the agent does.
        os._exit(exit_code)

    # 3. What the function's process says, checked.
    def on_function_message(self, chunk):
        try:
            for line in self.from_function.push(chunk):
                if not line:
                    continue
                message = check_function_message(line, self.state)
                kind = message["t"]
                self.send_host(line + b"\n")
                if kind == "fatal":
                    # The function's process ends itself (a crash); its error is the invocation's.
                    self.ending = True
                    self.finish(1)
                elif kind == "result":
                    self.state["current"] = None
                elif kind in ("loaded", "load_failed"):
                    self.state["loading"] = False
        except ProtocolError as err:
            self.fatal("ProtocolError", "The function wrote a malformed message on its agent channel (%s); "
                       "its container was removed" % err, 1)

    # Raw output (native code, subprocesses) becomes log lines, cut at the log message limit.
    def on_output(self, level, chunk):
        if level == "error":
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL_BYTES:]
        text = self.partial[level] + chunk.decode("utf-8", "replace")
        max_chars = self.state["limits"]["logMessageBytes"] // 4
        while True:
            newline = text.find("\n")
            if newline != -1 and newline <= max_chars:
                line, text = text[:newline], text[newline + 1:]
            elif len(text) > max_chars:
                line, text = text[:max_chars], text[max_chars:]
            else:
                break
            self.send({"t": "log", "id": self.state["current"], "level": level, "message": line})
        self.partial[level] = text

    # 4. The host: its lines go to the function's process as they are.
    def on_host_data(self, chunk):
        for line in self.from_host.push(chunk):
            if not line:
                continue
            invoke = INVOKE_HEAD.match(line[:512])
            if invoke:
                self.state["current"] = json.loads(invoke.group(1))
            else:
                message = json.loads(line)
                if message.get("t") == "invoke":
                    self.state["current"] = message.get("id")
                elif message.get("t") == "load":
                    self.state["loading"] = True
                    if message.get("limits"):
                        self.state["limits"] = message["limits"]
                        self.from_function.max_bytes = max_message_bytes(self.state["limits"])
            try:
                self.child.stdin.write(line + b"\n")
                self.child.stdin.flush()
            except OSError:
                pass

    def on_function_exit(self):
        code = self.child.poll()
        if code is None or self.ending:
            return
        # Messages it wrote just before exiting may still be in the pipe: read them first.
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline and not self.ending:
            ready = self.selector.select(timeout=max(0, deadline - time.monotonic()))
            drained = False
            for key, _ in ready:
                if key.data[0] == "function":
                    chunk = os.read(self.channel_fd, READ_BYTES)
                    if not chunk:
                        drained = True
                        break
                    self.on_function_message(chunk)
            if drained or not ready:
                break
        if code < 0:
            name = signal.Signals(-code).name
            self.fatal("ProcessExited", "The function's process was killed by %s" % name, 128 - code)
        else:
            self.fatal("ProcessExited", "The function's process exited with code %d" % code, code or 1)

    def serve(self):
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.sock, selectors.EVENT_READ, ("host",))
        self.selector.register(self.channel_fd, selectors.EVENT_READ, ("function",))
        self.selector.register(self.child.stdout, selectors.EVENT_READ, ("output", "log"))
        self.selector.register(self.child.stderr, selectors.EVENT_READ, ("output", "error"))
        self.selector.register(wake_read, selectors.EVENT_READ, ("signal",))
        self.send({"t": "hello", "runtime": RUNTIME, "pid": os.getpid(), "version": sys.version.split()[0]})
        # The function may have died before the handler was installed.
        self.on_function_exit()
        while True:
            for key, _ in self.selector.select():
                kind = key.data[0]
                if kind == "host":
                    chunk = self.sock.recv(READ_BYTES)
                    if not chunk:
                        # The host closing the connection means this container is done.
                        self.finish(0)
                    self.on_host_data(chunk)
                elif kind == "function":
                    chunk = os.read(self.channel_fd, READ_BYTES)
                    if chunk:
                        self.on_function_message(chunk)
                    else:
                        self.selector.unregister(self.channel_fd)
                elif kind == "output":
                    chunk = os.read(key.fileobj.fileno(), READ_BYTES)
                    if chunk:
                        self.on_output(key.data[1], chunk)
                    else:
                        self.selector.unregister(key.fileobj)
                elif kind == "signal":
                    os.read(wake_read, 4096)
                    self.on_function_exit()


def main():
    if os.getuid() != 0:
        die("the agent must start as root with CAP_SETUID and CAP_SETGID")
    agent = Agent()
    agent.start_function(ids(os.environ.get("FAAS_FUNCTION_USER", "65534:65534")))
    agent.drop_privileges(ids(os.environ.get("FAAS_AGENT_USER", "65533:65533")))
    agent.connect()
    try:
        agent.serve()
    except Exception as err:  # noqa: BLE001 - whatever breaks here ends this container, reported
        agent.fatal("AgentError", "The function's agent failed: %s" % err, 70)


if __name__ == "__main__":
    main()
