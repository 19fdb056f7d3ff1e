// The faas agent for Node functions: the container's main process. It connects to the host's
// socket in the bind-mounted folder, waits for `load`, imports the handler once, then serves
// `invoke` messages one at a time. Protocol: images/agent/PROTOCOL.md. No dependencies.
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const SOCKET_PATH = process.env.FAAS_AGENT_SOCKET ?? '/faas/agent.sock';
const EXTENSIONS = ['.mjs', '.js', '.cjs', ''];

let socket;
let handler;
let fnInfo = { name: '', version: 0, memoryMb: 0 };
/** Id of the invocation now running: console output belongs to it. */
let currentId = null;

function send(message) {
  if (!socket?.writable) return;
  socket.write(`${JSON.stringify(message)}\n`);
}

function serializeError(err) {
  if (err instanceof Error) {
    return { type: err.name || 'Error', message: err.message, stack: err.stack };
  }
  return { type: 'Error', message: typeof err === 'string' ? err : format('%o', err) };
}

function emitLog(level, message) {
  send({ t: 'log', id: currentId, level, message });
}

// Console output and direct stdout/stderr writes become the invocation's log lines.
for (const [method, level] of [
  ['log', 'log'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['trace', 'debug'],
  ['warn', 'warn'],
  ['error', 'error'],
]) {
  console[method] = (...args) => emitLog(level, format(...args));
}
for (const [stream, level] of [
  [process.stdout, 'log'],
  [process.stderr, 'error'],
]) {
  stream.write = (chunk, encoding, callback) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    emitLog(level, text.endsWith('\n') ? text.slice(0, -1) : text);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) done();
    return true;
  };
}

function findEntry(dir, file) {
  for (const ext of EXTENSIONS) {
    const candidate = join(dir, file + ext);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function load(message) {
  const dot = message.handler.lastIndexOf('.');
  const file = dot > 0 ? message.handler.slice(0, dot) : message.handler;
  const exportName = dot > 0 ? message.handler.slice(dot + 1) : 'default';
  Object.assign(process.env, message.env ?? {});
  fnInfo = message.fn ?? fnInfo;
  process.chdir(message.dir);
  const entry = findEntry(message.dir, file);
  if (!entry) {
    const error = new Error(`Handler file "${file}" (.mjs, .js, .cjs) not found in the function's code`);
    error.name = 'HandlerNotFound';
    throw error;
  }
  const mod = await import(pathToFileURL(entry).href);
  let fn = mod[exportName];
  // A CommonJS file's module.exports arrives as `default`.
  if (typeof fn !== 'function' && exportName !== 'default') fn = mod.default?.[exportName];
  if (typeof fn !== 'function') {
    const error = new Error(`"${file}" has no function export named "${exportName}"`);
    error.name = 'HandlerNotFound';
    throw error;
  }
  handler = fn;
}

function decodeEvent(message) {
  if (message.eventEncoding === 'base64') return new Uint8Array(Buffer.from(message.event, 'base64'));
  return message.event;
}

function makeContext(message) {
  const deadline = message.deadline;
  const log =
    (level) =>
    (...args) =>
      emitLog(level, format(...args));
  return {
    invocationId: message.id,
    functionName: fnInfo.name,
    version: fnInfo.version,
    functionVersion: fnInfo.version,
    memoryLimitMb: fnInfo.memoryMb,
    deadline,
    getRemainingTimeMs: () => Math.max(0, deadline - Date.now()),
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
}

async function invoke(message) {
  currentId = message.id;
  try {
    const value = await handler(decodeEvent(message), makeContext(message));
    if (value instanceof Uint8Array) {
      send({
        t: 'result',
        id: message.id,
        ok: true,
        value: Buffer.from(value).toString('base64'),
        valueEncoding: 'base64',
      });
    } else {
      // Serialize here so an unserializable result fails this invocation, not the agent.
      const json = JSON.stringify(value === undefined ? null : value);
      socket.write(`{"t":"result","id":${JSON.stringify(message.id)},"ok":true,"value":${json}}\n`);
    }
  } catch (err) {
    send({ t: 'result', id: message.id, ok: false, error: serializeError(err) });
  } finally {
    currentId = null;
  }
}

async function onMessage(message) {
  if (message.t === 'load') {
    try {
      await load(message);
      send({ t: 'loaded' });
    } catch (err) {
      send({ t: 'load_failed', error: serializeError(err) });
    }
  } else if (message.t === 'invoke') {
    await invoke(message);
  }
}

// A crash outside a handler's promise (a timer that throws) ends the invocation as failed and
// the process with it: its state can no longer be trusted.
function crash(err) {
  if (currentId !== null) send({ t: 'result', id: currentId, ok: false, error: serializeError(err) });
  socket.end(() => process.exit(1));
  setTimeout(() => process.exit(1), 500).unref();
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

function connect(attempt = 0) {
  let connected = false;
  socket = createConnection(SOCKET_PATH);
  socket.once('connect', () => {
    connected = true;
    // The host closing the connection means this container is done.
    socket.once('close', () => process.exit(0));
    send({ t: 'hello', runtime: 'node', pid: process.pid, version: process.version });
    let buffered = '';
    let queue = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.length > 0) {
          const message = JSON.parse(line);
          queue = queue.then(() => onMessage(message));
        }
        newline = buffered.indexOf('\n');
      }
    });
  });
  socket.once('error', (err) => {
    if (!connected && attempt < 50 && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
      setTimeout(() => connect(attempt + 1), 20);
      return;
    }
    process.exit(2);
  });
}

connect();
