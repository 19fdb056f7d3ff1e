// The faas agent for Node functions: the container's main process (under its init). It starts as
// root holding only CAP_SETUID and CAP_SETGID, spawns the function's process (runner.mjs) under
// the function's uid, drops itself to its own uid (after which neither holds a capability), and
// only then connects to the host's socket, which only its uid may connect to. It passes the
// host's messages to the function's process and checks everything that comes back before the
// host sees it. Protocol: images/agent/PROTOCOL.md. No dependencies.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  checkFunctionMessage,
  DEFAULT_LIMITS,
  LineSplitter,
  maxMessageBytes,
  ProtocolError,
} from './protocol.mjs';

const SOCKET_PATH = process.env.FAAS_AGENT_SOCKET ?? '/faas/agent.sock';
const AGENT_USER = ids(process.env.FAAS_AGENT_USER ?? '65533:65533');
const FUNCTION_USER = ids(process.env.FAAS_FUNCTION_USER ?? '65534:65534');
/** The host is trusted, but its lines are bounded too: an event is at most the body limit, in base64. */
const MAX_HOST_LINE_BYTES = 256 * 1024 * 1024;
/** Kept of the function's stderr, to say why its process died. */
const STDERR_TAIL_BYTES = 4096;

function ids(spec) {
  const [uid, gid] = spec.split(':').map(Number);
  return { uid, gid: gid ?? uid };
}

function die(message) {
  process.stderr.write(`faas agent: ${message}\n`);
  process.exit(70);
}

if (process.getuid() !== 0) die('the agent must start as root with CAP_SETUID and CAP_SETGID');

const state = { current: null, loading: false, limits: DEFAULT_LIMITS };
let socket;
let ending = false;
let stderrTail = '';

// 1. The function's process, under its own uid, before the host's socket exists in this process.
const child = spawn(process.execPath, [fileURLToPath(new URL('./runner.mjs', import.meta.url))], {
  uid: FUNCTION_USER.uid,
  gid: FUNCTION_USER.gid,
  cwd: '/tmp',
  env: {
    HOME: '/tmp',
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    NODE_ENV: process.env.NODE_ENV ?? 'production',
  },
  stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
});
const [toChild, childStdout, childStderr, fromChild] = child.stdio;
toChild.on('error', () => {});
child.on('error', (err) => die(`starting the function's process failed: ${err.message}`));

// 2. Down to the agent's own uid: no capability is left to this process after it.
process.setgroups([]);
process.setgid(AGENT_USER.gid);
process.setuid(AGENT_USER.uid);
const status = readFileSync('/proc/self/status', 'utf8');
for (const field of ['CapPrm', 'CapEff']) {
  const value = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
  if (value === undefined || BigInt(`0x${value}`) !== 0n)
    die(`${field} is ${value} after dropping privileges`);
}

const NEWLINE = Buffer.from('\n');

/** Writes a line (a string, or a checked message's bytes) to the host. */
function sendHost(line) {
  if (!socket?.writable) return;
  let flushed;
  if (typeof line === 'string') flushed = socket.write(`${line}\n`);
  else {
    // One write of both parts: no copy of a large result, one system call.
    socket.cork();
    socket.write(line);
    flushed = socket.write(NEWLINE);
    socket.uncork();
  }
  if (!flushed) {
    // The host reads slower than the function writes: stop reading the function until it catches up.
    for (const stream of [fromChild, childStdout, childStderr]) stream.pause();
    socket.once('drain', () => {
      for (const stream of [fromChild, childStdout, childStderr]) stream.resume();
    });
  }
}

function send(message) {
  sendHost(JSON.stringify(message));
}

/** Tells the host the function's process is broken, and ends this container. */
function fatal(type, message, exitCode) {
  if (ending) return;
  ending = true;
  send({ t: 'fatal', id: state.current, error: { type, message } });
  if (stderrTail) process.stderr.write(stderrTail);
  const exit = () => process.exit(exitCode);
  if (socket?.writable) socket.end(exit);
  setTimeout(exit, 500).unref();
}

// 3. What the function's process says, checked.
const fromFunction = new LineSplitter(maxMessageBytes(state.limits));
fromChild.on('data', (chunk) => {
  if (ending) return;
  try {
    for (const line of fromFunction.push(chunk)) {
      if (line.length === 0) continue;
      const message = checkFunctionMessage(line, state);
      if (message.t === 'fatal') {
        // The function's process ends itself (a crash); its error is the invocation's.
        sendHost(line);
        ending = true;
        socket?.end(() => process.exit(1));
        setTimeout(() => process.exit(1), 500).unref();
        return;
      }
      if (message.t === 'result') state.current = null;
      if (message.t === 'loaded' || message.t === 'load_failed') state.loading = false;
      sendHost(line);
    }
  } catch (err) {
    const reason = err instanceof ProtocolError ? err.message : String(err);
    fatal(
      'ProtocolError',
      `The function wrote a malformed message on its agent channel (${reason}); its container was removed`,
      1,
    );
  }
});
fromChild.on('error', () => {});

// Raw output (native code, subprocesses) becomes log lines, cut at the log message limit.
for (const [stream, level] of [
  [childStdout, 'log'],
  [childStderr, 'error'],
]) {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text) => {
    if (level === 'error') stderrTail = (stderrTail + text).slice(-STDERR_TAIL_BYTES);
    partial += text;
    const maxChars = Math.floor(state.limits.logMessageBytes / 3);
    let newline = partial.indexOf('\n');
    while (newline !== -1 || partial.length > maxChars) {
      const end = newline !== -1 && newline <= maxChars ? newline : maxChars;
      send({ t: 'log', id: state.current, level, message: partial.slice(0, end) });
      partial = partial.slice(end === newline ? end + 1 : end);
      newline = partial.indexOf('\n');
    }
  });
  stream.on('error', () => {});
}

child.on('exit', (code, signal) => {
  if (ending) return;
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  // Messages it wrote just before exiting may still be in the pipe: read them first.
  const report = () =>
    fatal(
      'ProcessExited',
      `The function's process ${how}`,
      signal ? 128 + (constants.signals[signal] ?? 9) : code || 1,
    );
  if (fromChild.readableEnded) report();
  else {
    fromChild.once('end', report);
    setTimeout(report, 200).unref();
  }
});

// 4. The host: its lines go to the function's process as they are. The host writes an invoke as
// {"t":"invoke","id":…,…} and is trusted: its id is read from the head, the event is not parsed.
const INVOKE_HEAD = /^\{"t":"invoke","id":("(?:[^"\\]|\\.)*")/;
const fromHost = new LineSplitter(MAX_HOST_LINE_BYTES);
function onHostData(chunk) {
  for (const line of fromHost.push(chunk)) {
    if (line.length === 0) continue;
    const invoke = INVOKE_HEAD.exec(line.toString('utf8', 0, Math.min(line.length, 512)));
    if (invoke) {
      state.current = JSON.parse(invoke[1]);
    } else {
      const message = JSON.parse(line.toString('utf8'));
      if (message.t === 'invoke') state.current = message.id;
      else if (message.t === 'load') {
        state.loading = true;
        if (message.limits) {
          state.limits = message.limits;
          fromFunction.maxBytes = maxMessageBytes(state.limits);
        }
      }
    }
    toChild.cork();
    toChild.write(line);
    toChild.write(NEWLINE);
    toChild.uncork();
  }
}

function connect(attempt = 0) {
  let connected = false;
  socket = createConnection(SOCKET_PATH);
  socket.once('connect', () => {
    connected = true;
    // The host closing the connection means this container is done. The function's process
    // is another uid's, which this one cannot signal: it ends with the container, whose init
    // exits when the agent does.
    socket.once('close', () => process.exit(0));
    send({ t: 'hello', runtime: 'node', pid: process.pid, version: process.version });
    socket.on('data', onHostData);
  });
  socket.on('error', (err) => {
    if (!connected && attempt < 50 && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
      setTimeout(() => connect(attempt + 1), 20);
      return;
    }
    if (!connected) die(`connecting to ${SOCKET_PATH} failed: ${err.message}`);
  });
}

process.on('uncaughtException', (err) => {
  fatal('AgentError', `The function's agent failed: ${err?.message ?? err}`, 70);
});

connect();
