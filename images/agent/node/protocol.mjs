// What the agent accepts from the function's process: the same checks the host makes
// (packages/server/src/runtimes/container/agent-messages.ts), so a function that writes garbage
// on its channel ends itself here, before the host sees it. Protocol: images/agent/PROTOCOL.md.

export const DEFAULT_LIMITS = { resultBytes: 6 * 1024 * 1024, logMessageBytes: 64 * 1024 };
const ENVELOPE_BYTES = 64 * 1024;
const MAX_ERROR_TEXT_BYTES = 64 * 1024;
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error', 'log']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class ProtocolError extends Error {}

export function maxMessageBytes(limits) {
  return Math.ceil(limits.resultBytes / 3) * 4 + ENVELOPE_BYTES;
}

/** Newline-delimited lines of at most `maxBytes`, chunks joined once per line. */
export class LineSplitter {
  #parts = [];
  #size = 0;
  #maxBytes;

  constructor(maxBytes) {
    this.#maxBytes = maxBytes;
  }

  set maxBytes(value) {
    this.#maxBytes = value;
  }

  /** @throws ProtocolError when a line passes the limit, terminated or not. */
  push(chunk) {
    const lines = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.#size + (end - start) > this.#maxBytes) {
        this.#parts = [];
        this.#size = 0;
        throw new ProtocolError(`a message is longer than ${this.#maxBytes} bytes`);
      }
      const piece = chunk.subarray(start, end);
      if (newline === -1) {
        this.#parts.push(piece);
        this.#size += piece.length;
        break;
      }
      this.#parts.push(piece);
      lines.push(this.#parts.length === 1 ? piece : Buffer.concat(this.#parts, this.#size + piece.length));
      this.#parts = [];
      this.#size = 0;
      start = newline + 1;
    }
    return lines;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks one line from the function's process against what may come now (`state`: the running
 * invocation's id, whether a load is pending, the limits). Returns the parsed message.
 * @throws ProtocolError with the reason.
 */
export function checkFunctionMessage(line, state) {
  let message;
  try {
    message = JSON.parse(utf8.decode(line));
  } catch {
    throw new ProtocolError('a message is not UTF-8 JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new ProtocolError('a message is not a JSON object');
  }
  switch (message.t) {
    case 'loaded':
      onlyKeys(message, ['t']);
      if (!state.loading) throw new ProtocolError('"loaded" when no load was asked');
      return message;
    case 'load_failed':
      onlyKeys(message, ['t', 'error']);
      if (!state.loading) throw new ProtocolError('"load_failed" when no load was asked');
      checkError(message.error, 'load_failed.error');
      return message;
    case 'log':
      onlyKeys(message, ['t', 'id', 'level', 'message']);
      if (message.id !== null && message.id !== state.current) {
        throw new ProtocolError('a log line of an invocation that is not running');
      }
      if (!LOG_LEVELS.has(message.level)) throw new ProtocolError('log.level is not a log level');
      text(message.message, 'log.message', state.limits.logMessageBytes);
      return message;
    case 'result':
      return checkResult(message, line, state);
    case 'fatal':
      onlyKeys(message, ['t', 'id', 'error']);
      if (message.id !== null && message.id !== state.current) {
        throw new ProtocolError('"fatal" for an invocation that is not running');
      }
      checkError(message.error, 'fatal.error');
      return message;
    default:
      throw new ProtocolError('a message has an unknown type "t"');
  }
}

function checkResult(message, line, state) {
  if (state.current === null || message.id !== state.current) {
    throw new ProtocolError('a result of an invocation that is not running');
  }
  if (message.ok === false) {
    onlyKeys(message, ['t', 'id', 'ok', 'error']);
    checkError(message.error, 'result.error');
    return message;
  }
  if (message.ok !== true) throw new ProtocolError('result.ok is not true or false');
  onlyKeys(message, ['t', 'id', 'ok', 'value', 'valueEncoding']);
  if (!('value' in message)) throw new ProtocolError('result.value is missing');
  if (message.valueEncoding === undefined) {
    if (line.length > state.limits.resultBytes + ENVELOPE_BYTES) throw tooLarge(state.limits);
    return message;
  }
  if (message.valueEncoding !== 'base64') throw new ProtocolError('result.valueEncoding is not base64');
  if (typeof message.value !== 'string' || message.value.length % 4 !== 0 || !BASE64.test(message.value)) {
    throw new ProtocolError('result.value is not base64');
  }
  const padding = message.value.endsWith('==') ? 2 : message.value.endsWith('=') ? 1 : 0;
  if ((message.value.length / 4) * 3 - padding > state.limits.resultBytes) throw tooLarge(state.limits);
  return message;
}

function tooLarge(limits) {
  return new ProtocolError(`result.value is larger than the result limit of ${limits.resultBytes} bytes`);
}

function onlyKeys(record, allowed) {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key))
      throw new ProtocolError(`a "${String(record.t)}" message has an unknown field`);
  }
}

function checkError(error, what) {
  if (typeof error !== 'object' || error === null || Array.isArray(error)) {
    throw new ProtocolError(`${what} is not a JSON object`);
  }
  onlyKeys(error, ['type', 'message', 'stack', 'file', 'line', 'column']);
  if (typeof error.type !== 'string' || error.type.length === 0 || error.type.length > 200) {
    throw new ProtocolError(`${what}.type is not a short string`);
  }
  text(error.message, `${what}.message`, MAX_ERROR_TEXT_BYTES);
  if (error.stack !== undefined) text(error.stack, `${what}.stack`, MAX_ERROR_TEXT_BYTES);
  if (error.file !== undefined && (typeof error.file !== 'string' || error.file.length > 1024)) {
    throw new ProtocolError(`${what}.file is not a short string`);
  }
  for (const key of ['line', 'column']) {
    const n = error[key];
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
      throw new ProtocolError(`${what}.${key} is not a non-negative integer`);
    }
  }
}

function text(value, what, maxBytes) {
  if (typeof value !== 'string') throw new ProtocolError(`${what} is not a string`);
  if (value.length * 3 > maxBytes && Buffer.byteLength(value) > maxBytes) {
    throw new ProtocolError(`${what} is longer than ${maxBytes} bytes`);
  }
}
