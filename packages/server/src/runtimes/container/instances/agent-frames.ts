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
} as const;

export interface Frame {
  type: string;
  id: number;
  payload: Buffer;
}

const HEADER = 9;
/** Ids the server never gives an exec: pings use it, so a pong is recognisable in any byte stream. */
export const PING_ID = 0xffffffff;

export function encodeFrame(type: string, id: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame[0] = type.charCodeAt(0);
  frame.writeUInt32BE(id >>> 0, 1);
  frame.writeUInt32BE(payload.length, 5);
  frame.set(payload, HEADER);
  return frame;
}

export interface ExecFrame {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  tty?: { rows: number; cols: number };
}

export function encodeExec(id: number, exec: ExecFrame): Buffer {
  const head = Buffer.alloc(9);
  head[0] = exec.tty ? 1 : 0;
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

/**
 * Splits a byte stream into frames. In `resync` mode it first skips bytes up to a pong carrying
 * `nonce`: after a server restart or a restore, the stream may begin mid-frame.
 */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  #resync: Buffer | undefined;

  /** Drops everything before the pong frame with this nonce (which is delivered). */
  resyncOn(nonce: Buffer): void {
    this.#resync = encodeFrame(Event.pong, PING_ID, nonce);
  }

  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#resync) {
      const at = this.#buffer.indexOf(this.#resync);
      if (at < 0) {
        // Keep a tail that could be the start of the marker.
        this.#buffer = this.#buffer.subarray(Math.max(0, this.#buffer.length - this.#resync.length + 1));
        return [];
      }
      this.#buffer = this.#buffer.subarray(at);
      this.#resync = undefined;
    }
    const frames: Frame[] = [];
    while (this.#buffer.length >= HEADER) {
      const length = this.#buffer.readUInt32BE(5);
      if (this.#buffer.length < HEADER + length) break;
      frames.push({
        type: String.fromCharCode(this.#buffer[0] as number),
        id: this.#buffer.readUInt32BE(1),
        payload: this.#buffer.subarray(HEADER, HEADER + length),
      });
      this.#buffer = this.#buffer.subarray(HEADER + length);
    }
    return frames;
  }
}
