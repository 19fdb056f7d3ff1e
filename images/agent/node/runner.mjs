// The process that runs a Node function's code, started by the agent (agent.mjs) under the
// function's uid. It reads the agent's messages on stdin, loads the handler once, runs one
// invocation at a time and writes its messages on fd 3; stdout and stderr are the function's raw
// output. The function can reach all of these: the agent checks everything that comes back.
// Protocol: images/agent/PROTOCOL.md. No dependencies.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { Socket } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';

const EXTENSIONS = ['.mjs', '.js', '.cjs', '.ts', ''];

const channel = new Socket({ fd: 3, readable: false, writable: true });
channel.on('error', () => process.exit(1));

let handler;
let codeDir = '/faas/code';
let fnInfo = { name: '', version: 0, memoryMb: 0 };
let limits = { resultBytes: 6 * 1024 * 1024, logMessageBytes: 64 * 1024 };
/** Id of the invocation now running: console output belongs to it. */
let currentId = null;
/** Modules loaded while importing the handler, newest last: a syntax error is in one of them. */
const loadedUrls = [];

function send(message) {
  channel.write(`${JSON.stringify(message)}\n`);
}

/** Error fields the agent accepts, within its sizes. */
function serializeError(err, fallbackType = 'Error') {
  if (err instanceof Error) {
    return {
      type: clip(String(err.name || fallbackType), 200) || fallbackType,
      message: clipBytes(String(err.message), 60 * 1024),
      ...(typeof err.stack === 'string' ? { stack: clipBytes(err.stack, 60 * 1024) } : {}),
    };
  }
  return {
    type: fallbackType,
    message: clipBytes(typeof err === 'string' ? err : format('%o', err), 60 * 1024),
  };
}

function clip(text, chars) {
  return text.length > chars ? text.slice(0, chars) : text;
}

function clipBytes(text, maxBytes) {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const marker = ` … [truncated ${Buffer.byteLength(text) - maxBytes + 64} bytes]`;
  // A cut inside a character decodes to U+FFFD, no longer than the bytes it replaces.
  return (
    Buffer.from(text)
      .subarray(0, maxBytes - 64)
      .toString('utf8') + marker
  );
}

function emitLog(level, message) {
  send({ t: 'log', id: currentId, level, message: clipBytes(message, limits.logMessageBytes) });
}

// Console output and writes to process.stdout/stderr become the invocation's log lines.
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

registerHooks({
  load(url, context, nextLoad) {
    if (loadedUrls.length < 10_000) loadedUrls.push(url);
    return nextLoad(url, context);
  },
});

function findEntry(dir, file) {
  for (const ext of EXTENSIONS) {
    const candidate = join(dir, file + ext);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function loadError(name, message, file) {
  const error = new Error(message);
  error.name = name;
  error.faasFile = file;
  return error;
}

/** `path` relative to the code folder, when it is in it. */
function inCode(path) {
  const rel = relative(codeDir, path);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : undefined;
}

/** file:line:column of the first stack frame in the function's code. */
function stackLocation(stack) {
  for (const match of String(stack ?? '').matchAll(/(?:file:\/\/)?(\/[^\s():]+):(\d+):(\d+)/g)) {
    let path = match[1];
    try {
      if (match[0].startsWith('file://')) path = fileURLToPath(`file://${path}`);
    } catch {}
    const file = inCode(path);
    if (file) return { file, line: Number(match[2]), column: Number(match[3]) };
  }
  return undefined;
}

/**
 * Where a module's syntax error is: Node keeps it out of the error, so the modules loaded so far
 * are checked with `node --check` (newest first), which prints `file:line` and a caret.
 */
function syntaxLocation() {
  for (const url of [...loadedUrls].reverse()) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    const file = inCode(path);
    if (!file) continue;
    const check = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000 });
    if (check.status === 0) continue;
    const lines = String(check.stderr ?? '').split('\n');
    const at = /:(\d+)$/.exec(lines[0] ?? '');
    const caret = (lines[2] ?? '').indexOf('^');
    return { file, ...(at ? { line: Number(at[1]) } : {}), ...(caret >= 0 ? { column: caret + 1 } : {}) };
  }
  return undefined;
}

async function load(message) {
  const dot = message.handler.lastIndexOf('.');
  const file = dot > 0 ? message.handler.slice(0, dot) : message.handler;
  const exportName = dot > 0 ? message.handler.slice(dot + 1) : 'default';
  Object.assign(process.env, message.env ?? {});
  fnInfo = message.fn ?? fnInfo;
  limits = message.limits ?? limits;
  codeDir = message.dir;
  process.chdir(message.dir);
  const entry = findEntry(message.dir, file);
  if (!entry) {
    throw loadError(
      'HandlerNotFound',
      `Handler file "${file}" (.mjs, .js, .cjs, .ts) not found in the function's code`,
    );
  }
  const entryFile = inCode(entry);
  const mod = await import(pathToFileURL(entry).href);
  let fn = mod[exportName];
  // A CommonJS file's module.exports arrives as `default`.
  if (typeof fn !== 'function' && exportName !== 'default') fn = mod.default?.[exportName];
  if (typeof fn !== 'function') {
    const what = fn === undefined ? 'there is none' : `it is ${fn === null ? 'null' : `a ${typeof fn}`}`;
    throw loadError(
      'HandlerNotFound',
      `"${entryFile}" has no function export named "${exportName}" (${what})`,
      entryFile,
    );
  }
  handler = fn;
}

function loadFailure(err) {
  const error = serializeError(err);
  let location;
  if (err instanceof Error && err.faasFile) location = { file: err.faasFile };
  else if (err instanceof SyntaxError) location = syntaxLocation() ?? stackLocation(err.stack);
  else if (err?.code === 'ERR_MODULE_NOT_FOUND' && typeof err.message === 'string') {
    const from = / imported from (\S+)$/.exec(err.message);
    const file = from ? inCode(from[1]) : undefined;
    location = file ? { file } : undefined;
  } else location = stackLocation(err?.stack);
  return { ...error, ...location };
}

function decodeEvent(message) {
  if (message.eventEncoding === 'base64') return new Uint8Array(Buffer.from(message.event, 'base64'));
  return message.event;
}

/** The running invocation's `traceparent`, which its outgoing fetches carry. */
let currentTraceparent;

/**
 * fetch with the running invocation's `traceparent` added, unless the function set one: a
 * function with network continues the caller's trace downstream without doing anything.
 */
const untracedFetch = globalThis.fetch;
globalThis.fetch = function fetch(input, init) {
  const traceparent = currentTraceparent;
  if (traceparent === undefined) return untracedFetch(input, init);
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has('traceparent')) headers.set('traceparent', traceparent);
  return untracedFetch(input, { ...init, headers });
};

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
    // The W3C trace the invocation runs in (undefined when the call carried none and the
    // platform does not trace); outgoing fetches carry `traceparent` (see tracedFetch).
    traceId: message.traceId,
    traceparent: message.traceparent,
    getRemainingTimeMs: () => Math.max(0, deadline - Date.now()),
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
}

/** The host refuses results nested deeper than this (it writes them out with JSON.stringify). */
const MAX_DEPTH = 1000;

/** How deep a JSON text nests, counting brackets outside strings. */
function jsonDepth(json) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

function tooLarge(bytes, what) {
  return {
    type: 'InvalidResult',
    message: `The function's result is too large: ${bytes} bytes${what}, the limit is ${limits.resultBytes} bytes`,
  };
}

async function invoke(message) {
  const id = message.id;
  currentId = id;
  currentTraceparent = typeof message.traceparent === 'string' ? message.traceparent : undefined;
  try {
    const value = await handler(decodeEvent(message), makeContext(message));
    if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
      const bytes =
        value instanceof ArrayBuffer
          ? Buffer.from(value)
          : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (bytes.length > limits.resultBytes) {
        send({ t: 'result', id, ok: false, error: tooLarge(bytes.length, '') });
      } else {
        send({ t: 'result', id, ok: true, value: bytes.toString('base64'), valueEncoding: 'base64' });
      }
    } else {
      // Serialize here so an unserializable result fails this invocation, not the process.
      const json = JSON.stringify(value === undefined ? null : value) ?? 'null';
      if (json.length * 3 > limits.resultBytes && Buffer.byteLength(json) > limits.resultBytes) {
        send({ t: 'result', id, ok: false, error: tooLarge(Buffer.byteLength(json), ' of JSON') });
      } else if (json.length > 2 * MAX_DEPTH && jsonDepth(json) > MAX_DEPTH) {
        const message = `The function's result nests deeper than ${MAX_DEPTH} levels`;
        send({ t: 'result', id, ok: false, error: { type: 'InvalidResult', message } });
      } else {
        channel.write(`{"t":"result","id":${JSON.stringify(id)},"ok":true,"value":${json}}\n`);
      }
    }
  } catch (err) {
    send({ t: 'result', id, ok: false, error: serializeError(err) });
  } finally {
    currentId = null;
    currentTraceparent = undefined;
  }
}

async function onMessage(message) {
  if (message.t === 'load') {
    try {
      await load(message);
      send({ t: 'loaded' });
    } catch (err) {
      send({ t: 'load_failed', error: loadFailure(err) });
    }
  } else if (message.t === 'invoke') {
    await invoke(message);
  }
}

// A rejection nobody handles, or a throw from a timer, is the running invocation's error; the
// process's state can no longer be trusted, so it ends, and the agent with it.
function crash(err) {
  send({ t: 'fatal', id: currentId, error: serializeError(err, 'UncaughtError') });
  channel.end(() => process.exit(1));
  setTimeout(() => process.exit(1), 500).unref();
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

// The agent is the only writer of stdin; its lines are whole messages. Chunks are joined once
// per line, so a large event costs no repeated copying.
let parts = [];
let queue = Promise.resolve();
process.stdin.on('data', (chunk) => {
  let start = 0;
  for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
    parts.push(chunk.subarray(start, newline));
    const line = Buffer.concat(parts).toString('utf8');
    parts = [];
    start = newline + 1;
    if (line.length > 0) {
      const message = JSON.parse(line);
      queue = queue.then(() => onMessage(message));
    }
  }
  if (start < chunk.length) parts.push(chunk.subarray(start));
});
// The agent went away: nothing is left to serve.
process.stdin.on('end', () => process.exit(0));
