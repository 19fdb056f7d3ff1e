/**
 * The sandbox agent's frames (images/sandbox-agent/PROTOCOL.md): 1 byte type, 4 bytes id,
 * 4 bytes length (big-endian), then the payload. Requests go on the container's stdin, events
 * come on its stdout.
 */
export const Request = {
  exec: 'X',
  stdin: 'I',
  signal: 'K',
  resize: 'R',
  ping: 'P',
  /** Output credit for a flow-controlled process: `bytes: u32`. */
  credit: 'A',
} as const;

export const Event = {
  started: 'S',
  stdout: 'O',
  stderr: 'E',
  exit: 'Z',
  file: 'F',
  custom: 'C',
  pong: 'p',
  log: 'L',
  /** Stdin bytes a flow-controlled process took (or that were dropped): `bytes: u32`. */
  stdinTaken: 'W',
} as const;

export interface Frame {
  type: string;
  id: number;
  payload: Buffer;
}

export const HEADER_BYTES = 9;
/** Ids the server never gives an exec: pings use it, so a pong is recognisable in any byte stream. */
export const PING_ID = 0xffffffff;
/** Requests the server sends are at most this long (the agent refuses longer ones). */
export const MAX_REQUEST_PAYLOAD = 16 * 1024 * 1024;
/**
 * Events the agent sends are far smaller (output in 32 KiB reads, event lines up to 64 KiB):
 * anything longer is not the agent speaking, and is refused before a byte of it is kept.
 */
export const MAX_EVENT_PAYLOAD = 1024 * 1024;
/** The nonce of a ping the server sends; its pong carries it back. */
export const PING_NONCE_BYTES = 16;
/** A stream joined mid-way is skipped up to the pong of a fresh ping, but no further than this. */
export const MAX_RESYNC_BYTES = 64 * 1024 * 1024;
/** Longest path a file event carries (the agent's PATH_MAX buffer). */
const MAX_PATH_BYTES = 4096;

/** The agent's output broke the protocol: the link that carried it is not trusted again. */
export class FrameError extends Error {
  /** Good frames that came before the bad one in the same push: they are still the agent's. */
  frames: Frame[] = [];

  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Which ids an event may carry, and how long its payload may be. */
interface EventShape {
  id: 'process' | 'instance' | 'ping';
  /** Exact length, or [min, max]. */
  length: number | [number, number];
}

const EVENT_SHAPES: Record<string, EventShape> = {
  [Event.started]: { id: 'process', length: 4 },
  [Event.stdout]: { id: 'process', length: [0, MAX_EVENT_PAYLOAD] },
  [Event.stderr]: { id: 'process', length: [0, MAX_EVENT_PAYLOAD] },
  [Event.exit]: { id: 'process', length: 4 },
  [Event.stdinTaken]: { id: 'process', length: 4 },
  // A kind byte and a path.
  [Event.file]: { id: 'instance', length: [2, 1 + MAX_PATH_BYTES] },
  [Event.custom]: { id: 'instance', length: [1, 64 * 1024] },
  [Event.log]: { id: 'instance', length: [0, 4096] },
  [Event.pong]: { id: 'ping', length: [0, 64] },
};

const FILE_EVENT_KINDS = new Set(['c', 'm', 'd']);

function describeType(type: number): string {
  return type >= 0x21 && type < 0x7f ? `"${String.fromCharCode(type)}"` : `0x${type.toString(16)}`;
}

/** Checks a frame header from the agent; the payload is not read before this passes. */
function checkHeader(type: number, id: number, length: number): void {
  const shape = EVENT_SHAPES[String.fromCharCode(type)];
  if (!shape) throw new FrameError(`unknown event type ${describeType(type)}`);
  const [min, max] = typeof shape.length === 'number' ? [shape.length, shape.length] : shape.length;
  if (length < min || length > max) {
    throw new FrameError(
      `event ${describeType(type)} with a ${length}-byte payload (allowed: ${min === max ? min : `${min} to ${max}`})`,
    );
  }
  const idOk =
    shape.id === 'instance' ? id === 0 : shape.id === 'ping' ? id === PING_ID : id !== 0 && id !== PING_ID;
  if (!idOk) throw new FrameError(`event ${describeType(type)} for id ${id}`);
}

/** Checks what a payload holds, for the events whose payload has a structure. */
function checkPayload(frame: Frame): void {
  if (frame.type !== Event.file) return;
  const kind = String.fromCharCode(frame.payload[0] as number);
  if (!FILE_EVENT_KINDS.has(kind))
    throw new FrameError(`file event of unknown kind ${describeType(frame.payload[0] as number)}`);
  if (frame.payload[1] !== 0x2f || frame.payload.indexOf(0, 1) >= 0) {
    throw new FrameError('file event whose path is not absolute or holds a NUL byte');
  }
}

export function encodeFrame(type: string, id: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame[0] = type.charCodeAt(0);
  frame.writeUInt32BE(id >>> 0, 1);
  frame.writeUInt32BE(payload.length, 5);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

export interface ExecFrame {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  tty?: { rows: number; cols: number };
  /** Output only as credited (`A`), stdin taken reported (`W`). */
  flow?: boolean;
}

export function encodeExec(id: number, exec: ExecFrame): Buffer {
  const head = Buffer.alloc(9);
  head[0] = (exec.tty ? 1 : 0) | (exec.flow ? 2 : 0);
  head.writeUInt16BE(exec.tty?.rows ?? 0, 1);
  head.writeUInt16BE(exec.tty?.cols ?? 0, 3);
  const env = Object.entries(exec.env).map(([name, value]) => `${name}=${value}`);
  head.writeUInt16BE(exec.argv.length, 5);
  head.writeUInt16BE(env.length, 7);
  const strings = [exec.cwd, ...exec.argv, ...env].map((s) => `${s}\0`).join('');
  return encodeFrame(Request.exec, id, Buffer.concat([head, Buffer.from(strings, 'utf8')]));
}

export function encodeResize(id: number, rows: number, cols: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt16BE(rows, 0);
  payload.writeUInt16BE(cols, 2);
  return encodeFrame(Request.resize, id, payload);
}

export function encodeCredit(id: number, bytes: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(bytes, 0);
  return encodeFrame(Request.credit, id, payload);
}

/**
 * Skips a byte stream up to a marker (the pong of a resync ping), keeping only a marker's length
 * of it, and no further than MAX_RESYNC_BYTES.
 */
class MarkerScan {
  #marker: Buffer;
  #tail: Buffer = Buffer.alloc(0);
  #skipped = 0;

  constructor(marker: Buffer) {
    this.#marker = marker;
  }

  /** The bytes from the marker on, or undefined while it has not come. */
  push(chunk: Buffer): Buffer | undefined {
    const m = this.#marker.length;
    if (this.#tail.length > 0) {
      // A marker across the previous chunk's end and this one's start.
      const joint = Buffer.concat([this.#tail, chunk.subarray(0, m - 1)]);
      const at = joint.indexOf(this.#marker);
      if (at >= 0) return Buffer.concat([this.#tail.subarray(at), chunk]);
    }
    const at = chunk.indexOf(this.#marker);
    if (at >= 0) return chunk.subarray(at);
    this.#skipped += chunk.length;
    if (this.#skipped > MAX_RESYNC_BYTES) {
      throw new FrameError(`no answer to the resync ping in ${MAX_RESYNC_BYTES} bytes`);
    }
    // A copy: the tail must not keep the whole chunk alive.
    const kept = Math.min(m - 1, this.#tail.length + chunk.length);
    if (kept > 0)
      this.#tail = Buffer.from(Buffer.concat([this.#tail, chunk.subarray(-kept)]).subarray(-kept));
    return undefined;
  }
}

/**
 * Splits the agent's byte stream into checked frames. Memory is bounded by the largest event
 * (MAX_EVENT_PAYLOAD): a header is checked before its payload is kept, a payload is collected as
 * a list of slices and copied once. A frame that breaks the protocol throws FrameError, and so
 * does every later push: a stream is never trusted again after a bad frame.
 */
export class FrameDecoder {
  #header = Buffer.alloc(HEADER_BYTES);
  #headerFill = 0;
  #frame: { type: string; id: number; length: number } | undefined;
  #parts: Buffer[] = [];
  #filled = 0;
  #resync: MarkerScan | undefined;
  #error: FrameError | undefined;

  /** Drops everything before the pong frame with this nonce (which is delivered). */
  resyncOn(nonce: Buffer): void {
    this.#resync = new MarkerScan(encodeFrame(Event.pong, PING_ID, nonce));
    this.#headerFill = 0;
    this.#frame = undefined;
    this.#parts = [];
    this.#filled = 0;
  }

  push(chunk: Buffer): Frame[] {
    if (this.#error) throw this.#error;
    const frames: Frame[] = [];
    try {
      this.#push(chunk, frames);
      return frames;
    } catch (err) {
      const error = err instanceof FrameError ? err : new FrameError(String(err));
      error.frames = frames;
      this.#error = new FrameError(error.message);
      this.#parts = [];
      throw error;
    }
  }

  #push(chunk: Buffer, frames: Frame[]): void {
    let data: Buffer = chunk;
    if (this.#resync) {
      const found = this.#resync.push(chunk);
      if (!found) return;
      this.#resync = undefined;
      data = found;
    }
    let at = 0;
    while (at < data.length) {
      if (!this.#frame) {
        const take = Math.min(HEADER_BYTES - this.#headerFill, data.length - at);
        data.copy(this.#header, this.#headerFill, at, at + take);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < HEADER_BYTES) break;
        this.#headerFill = 0;
        const type = this.#header[0] as number;
        const id = this.#header.readUInt32BE(1);
        const length = this.#header.readUInt32BE(5);
        checkHeader(type, id, length);
        this.#frame = { type: String.fromCharCode(type), id, length };
      }
      const { type, id, length } = this.#frame;
      const take = Math.min(length - this.#filled, data.length - at);
      if (take > 0) {
        this.#parts.push(data.subarray(at, at + take));
        this.#filled += take;
        at += take;
      }
      if (this.#filled < length) break;
      const payload =
        this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, length);
      const frame = { type, id, payload };
      checkPayload(frame);
      frames.push(frame);
      this.#frame = undefined;
      this.#parts = [];
      this.#filled = 0;
    }
  }
}
