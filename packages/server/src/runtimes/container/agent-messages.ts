import { type InvocationError, type LogLine, MAX_JSON_DEPTH } from '@faas/core';

/**
 * The messages a function container's agent sends (images/agent/PROTOCOL.md) and the bounded
 * parser that turns its bytes into them. Everything from a function container is untrusted: the
 * parser checks type, shape and size, and anything else is an `AgentProtocolError`, which ends
 * that container. It never throws anything else, whatever the bytes.
 */

/** A load failure may say where in the function's code it happened. */
export interface AgentError extends InvocationError {
  /** Relative to the function's code folder. */
  file?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  column?: number;
}

export type AgentMessage =
  | { t: 'hello'; runtime: string; pid: number; version?: string }
  | { t: 'loaded' }
  | { t: 'load_failed'; error: AgentError }
  | { t: 'log'; id: string | null; level: LogLine['level']; message: string }
  | { t: 'result'; id: string; ok: true; value: unknown; valueEncoding?: 'base64' }
  | { t: 'result'; id: string; ok: false; error: AgentError }
  /** The function's process broke (it crashed, exited, or wrote garbage): the agent exits after. */
  | { t: 'fatal'; id: string | null; error: AgentError };

export type AgentResult = Extract<AgentMessage, { t: 'result' }>;

/** Sizes the parser enforces. */
export interface AgentMessageLimits {
  /** Largest result: JSON bytes, or raw bytes for a binary result. */
  resultBytes: number;
  /** Largest text of one log message. */
  logMessageBytes: number;
}

/** The isolate runtime's result limit, shared by every runtime. */
export const DEFAULT_RESULT_BYTES = 6 * 1024 * 1024;

export const DEFAULT_AGENT_LIMITS: AgentMessageLimits = {
  resultBytes: DEFAULT_RESULT_BYTES,
  logMessageBytes: 64 * 1024,
};

/** Longest error `type`, and longest error `message` or `stack`. */
const MAX_ERROR_TYPE_CHARS = 200;
const MAX_ERROR_TEXT_BYTES = 64 * 1024;
/** Room for the envelope around a result's value (`{"t":"result","id":…}`). */
const ENVELOPE_BYTES = 64 * 1024;
const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error', 'log']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A message that breaks the protocol: the container that sent it is removed. */
export class AgentProtocolError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'AgentProtocolError';
  }
}

/**
 * The longest line a message may take: a binary result at the limit is base64 (4/3 of it), a
 * JSON result is its JSON; both sit in a small envelope.
 */
export function maxMessageBytes(limits: AgentMessageLimits): number {
  return Math.ceil(limits.resultBytes / 3) * 4 + ENVELOPE_BYTES;
}

/**
 * Splits a byte stream into newline-terminated lines without quadratic copying: chunks are kept
 * as they come and joined once per line. A line longer than `maxLineBytes` (terminated or not)
 * is a protocol error as soon as it passes the limit, so a sender without newlines is cut off.
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;
  #maxLineBytes: number;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes of an unfinished line held. */
  get pending(): number {
    return this.#size;
  }

  /** @throws AgentProtocolError when a line is longer than the limit. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.#size + (end - start) > this.#maxLineBytes) {
        this.#parts = [];
        this.#size = 0;
        throw new AgentProtocolError(`a message is longer than ${this.#maxLineBytes} bytes`);
      }
      const piece = chunk.subarray(start, end);
      if (newline === -1) {
        this.#parts.push(piece);
        this.#size += piece.length;
        break;
      }
      if (this.#parts.length === 0) {
        lines.push(piece);
      } else {
        this.#parts.push(piece);
        lines.push(Buffer.concat(this.#parts, this.#size + piece.length));
        this.#parts = [];
        this.#size = 0;
      }
      start = newline + 1;
    }
    return lines;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One line (without its newline) as a message.
 * @throws AgentProtocolError for anything that is not one of the protocol's messages.
 */
export function parseAgentMessage(line: Uint8Array, limits: AgentMessageLimits): AgentMessage {
  if (line.length > maxMessageBytes(limits)) {
    throw new AgentProtocolError(`a message is longer than ${maxMessageBytes(limits)} bytes`);
  }
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    throw new AgentProtocolError('a message is not UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgentProtocolError('a message is not JSON');
  }
  const message = asRecord(value, 'a message');
  switch (message.t) {
    case 'hello':
      onlyKeys(message, ['t', 'runtime', 'pid', 'version']);
      return {
        t: 'hello',
        runtime: shortString(message.runtime, 'hello.runtime', 32),
        pid: integer(message.pid, 'hello.pid'),
        ...(message.version === undefined
          ? {}
          : { version: shortString(message.version, 'hello.version', 64) }),
      };
    case 'loaded':
      onlyKeys(message, ['t']);
      return { t: 'loaded' };
    case 'load_failed':
      onlyKeys(message, ['t', 'error']);
      return { t: 'load_failed', error: agentError(message.error, 'load_failed.error') };
    case 'log': {
      onlyKeys(message, ['t', 'id', 'level', 'message']);
      if (typeof message.level !== 'string' || !LOG_LEVELS.has(message.level)) {
        throw new AgentProtocolError('log.level is not a log level');
      }
      return {
        t: 'log',
        id: invocationId(message.id, 'log.id', true),
        level: message.level as LogLine['level'],
        message: boundedText(message.message, 'log.message', limits.logMessageBytes),
      };
    }
    case 'result':
      return result(message, limits, line.length);
    case 'fatal':
      onlyKeys(message, ['t', 'id', 'error']);
      return {
        t: 'fatal',
        id: invocationId(message.id, 'fatal.id', true),
        error: agentError(message.error, 'fatal.error'),
      };
    default:
      throw new AgentProtocolError('a message has an unknown type "t"');
  }
}

function result(
  message: Record<string, unknown>,
  limits: AgentMessageLimits,
  lineBytes: number,
): AgentResult {
  const id = invocationId(message.id, 'result.id', false) as string;
  if (message.ok === false) {
    onlyKeys(message, ['t', 'id', 'ok', 'error']);
    return { t: 'result', id, ok: false, error: agentError(message.error, 'result.error') };
  }
  if (message.ok !== true) throw new AgentProtocolError('result.ok is not true or false');
  onlyKeys(message, ['t', 'id', 'ok', 'value', 'valueEncoding']);
  if (!('value' in message)) throw new AgentProtocolError('result.value is missing');
  // The agent refuses results over the limit itself; one that still sends one is broken.
  const tooLarge = () =>
    new AgentProtocolError(`result.value is larger than the result limit of ${limits.resultBytes} bytes`);
  if (message.valueEncoding === undefined) {
    if (lineBytes > limits.resultBytes + ENVELOPE_BYTES) throw tooLarge();
    // Each level costs two bytes: only a long line can nest too deep.
    if (lineBytes > 2 * MAX_JSON_DEPTH && depthOf(message.value) > MAX_JSON_DEPTH) {
      throw new AgentProtocolError(`result.value nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    return { t: 'result', id, ok: true, value: message.value };
  }
  if (message.valueEncoding !== 'base64') throw new AgentProtocolError('result.valueEncoding is not base64');
  const value = message.value;
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) {
    throw new AgentProtocolError('result.value is not base64');
  }
  if (
    (value.length / 4) * 3 - (value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0) >
    limits.resultBytes
  ) {
    throw tooLarge();
  }
  return { t: 'result', id, ok: true, value, valueEncoding: 'base64' };
}

/** How deep a parsed JSON value nests, without recursion. */
export function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null) continue;
    if (depth > deepest) deepest = depth;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return deepest;
}

function agentError(value: unknown, what: string): AgentError {
  const error = asRecord(value, what);
  onlyKeys(error, ['type', 'message', 'stack', 'file', 'line', 'column']);
  const type = shortString(error.type, `${what}.type`, MAX_ERROR_TYPE_CHARS);
  if (type.length === 0) throw new AgentProtocolError(`${what}.type is empty`);
  const out: AgentError = {
    type,
    message: boundedText(error.message, `${what}.message`, MAX_ERROR_TEXT_BYTES),
  };
  if (error.stack !== undefined) out.stack = boundedText(error.stack, `${what}.stack`, MAX_ERROR_TEXT_BYTES);
  if (error.file !== undefined) out.file = shortString(error.file, `${what}.file`, 1024);
  if (error.line !== undefined) out.line = integer(error.line, `${what}.line`);
  if (error.column !== undefined) out.column = integer(error.column, `${what}.column`);
  return out;
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AgentProtocolError(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function onlyKeys(record: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new AgentProtocolError(`a "${String(record.t)}" message has an unknown field`);
    }
  }
}

function invocationId(value: unknown, what: string, nullable: boolean): string | null {
  if (value === null && nullable) return null;
  return shortString(value, what, 200);
}

function shortString(value: unknown, what: string, maxChars: number): string {
  if (typeof value !== 'string') throw new AgentProtocolError(`${what} is not a string`);
  if (value.length > maxChars) throw new AgentProtocolError(`${what} is longer than ${maxChars} characters`);
  return value;
}

function boundedText(value: unknown, what: string, maxBytes: number): string {
  if (typeof value !== 'string') throw new AgentProtocolError(`${what} is not a string`);
  // Characters undercount UTF-8 bytes by up to 3x: measure exactly only when it can matter.
  if (value.length * 3 > maxBytes && Buffer.byteLength(value) > maxBytes) {
    throw new AgentProtocolError(`${what} is longer than ${maxBytes} bytes`);
  }
  return value;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new AgentProtocolError(`${what} is not a non-negative integer`);
  }
  return value;
}
