"""What the agent accepts from the function's process.

The same checks the host makes (packages/server/src/runtimes/container/agent-messages.ts), so a
function that writes garbage on its channel ends itself here, before the host sees it.
Protocol: images/agent/PROTOCOL.md.
"""

import json
import re

DEFAULT_LIMITS = {"resultBytes": 6 * 1024 * 1024, "logMessageBytes": 64 * 1024}
ENVELOPE_BYTES = 64 * 1024
MAX_ERROR_TEXT_BYTES = 64 * 1024
LOG_LEVELS = {"debug", "info", "warn", "error", "log"}
BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class ProtocolError(Exception):
    pass


def max_message_bytes(limits):
    return -(-limits["resultBytes"] // 3) * 4 + ENVELOPE_BYTES


class LineSplitter:
    """Newline-delimited lines of at most `max_bytes`, chunks joined once per line."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._parts = []
        self._size = 0

    def push(self, chunk):
        lines = []
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline == -1 else newline
            if self._size + (end - start) > self.max_bytes:
                self._parts = []
                self._size = 0
                raise ProtocolError("a message is longer than %d bytes" % self.max_bytes)
            piece = chunk[start:end]
            if newline == -1:
                self._parts.append(piece)
                self._size += len(piece)
                break
            self._parts.append(piece)
            lines.append(b"".join(self._parts))
            self._parts = []
            self._size = 0
            start = newline + 1
        return lines


def _refuse_constant(name):
    raise ProtocolError("a message has %s, which is not JSON" % name)


def check_function_message(line, state):
    """Checks one line from the function's process against what may come now; returns it parsed."""
    try:
        message = json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)
    except ProtocolError:
        raise
    except Exception:  # noqa: BLE001 - bad UTF-8, bad JSON, nesting too deep
        raise ProtocolError("a message is not UTF-8 JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message is not a JSON object")
    kind = message.get("t")
    limits = state["limits"]
    if kind == "loaded":
        _only_keys(message, ("t",))
        if not state["loading"]:
            raise ProtocolError('"loaded" when no load was asked')
    elif kind == "load_failed":
        _only_keys(message, ("t", "error"))
        if not state["loading"]:
            raise ProtocolError('"load_failed" when no load was asked')
        _check_error(message.get("error"), "load_failed.error")
    elif kind == "log":
        _only_keys(message, ("t", "id", "level", "message"))
        if message.get("id") is not None and message.get("id") != state["current"]:
            raise ProtocolError("a log line of an invocation that is not running")
        if message.get("level") not in LOG_LEVELS:
            raise ProtocolError("log.level is not a log level")
        _text(message.get("message"), "log.message", limits["logMessageBytes"])
    elif kind == "result":
        if state["current"] is None or message.get("id") != state["current"]:
            raise ProtocolError("a result of an invocation that is not running")
        ok = message.get("ok")
        if ok is False:
            _only_keys(message, ("t", "id", "ok", "error"))
            _check_error(message.get("error"), "result.error")
        elif ok is True:
            _only_keys(message, ("t", "id", "ok", "value", "valueEncoding"))
            if "value" not in message:
                raise ProtocolError("result.value is missing")
            encoding = message.get("valueEncoding")
            value = message["value"]
            if encoding is None and "valueEncoding" not in message:
                if len(line) > limits["resultBytes"] + ENVELOPE_BYTES:
                    raise _too_large(limits)
            elif encoding == "base64":
                if not isinstance(value, str) or len(value) % 4 or not BASE64.match(value):
                    raise ProtocolError("result.value is not base64")
                padding = 2 if value.endswith("==") else 1 if value.endswith("=") else 0
                if len(value) // 4 * 3 - padding > limits["resultBytes"]:
                    raise _too_large(limits)
            else:
                raise ProtocolError("result.valueEncoding is not base64")
        else:
            raise ProtocolError("result.ok is not true or false")
    elif kind == "fatal":
        _only_keys(message, ("t", "id", "error"))
        if message.get("id") is not None and message.get("id") != state["current"]:
            raise ProtocolError('"fatal" for an invocation that is not running')
        _check_error(message.get("error"), "fatal.error")
    else:
        raise ProtocolError('a message has an unknown type "t"')
    return message


def _too_large(limits):
    return ProtocolError("result.value is larger than the result limit of %d bytes" % limits["resultBytes"])


def _only_keys(record, allowed):
    for key in record:
        if key not in allowed:
            raise ProtocolError('a "%s" message has an unknown field' % record.get("t"))


def _check_error(error, what):
    if not isinstance(error, dict):
        raise ProtocolError("%s is not a JSON object" % what)
    _only_keys(error, ("type", "message", "stack", "file", "line", "column"))
    kind = error.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 200:
        raise ProtocolError("%s.type is not a short string" % what)
    _text(error.get("message"), what + ".message", MAX_ERROR_TEXT_BYTES)
    if "stack" in error:
        _text(error["stack"], what + ".stack", MAX_ERROR_TEXT_BYTES)
    if "file" in error and (not isinstance(error["file"], str) or len(error["file"]) > 1024):
        raise ProtocolError("%s.file is not a short string" % what)
    for key in ("line", "column"):
        if key in error:
            n = error[key]
            if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > 2**53 - 1:
                raise ProtocolError("%s.%s is not a non-negative integer" % (what, key))


def _text(value, what, max_bytes):
    if not isinstance(value, str):
        raise ProtocolError("%s is not a string" % what)
    if len(value) * 3 > max_bytes and len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("%s is longer than %d bytes" % (what, max_bytes))
