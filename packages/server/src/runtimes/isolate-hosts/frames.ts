/**
 * Length-prefixed frames over a byte stream: `u32 length (big-endian) | u8 type | body`, where
 * length counts the type byte and the body. Used between the serving threads and the isolate
 * host processes (host-protocol.ts).
 *
 * Both ends run our code, but an isolate host also runs tenant code that may have escaped or
 * corrupted its process: the reader is bounded (a maximum frame size, no quadratic copying) and
 * every field read is checked, so a bad frame is a ProtocolError, never an exception elsewhere.
 */

/** A frame or field that does not follow the protocol: the connection must be dropped. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** A frame announcing more than the reader's limit: too large, not malformed. */
export class FrameTooLarge extends ProtocolError {
  constructor(message: string) {
    super(message);
    this.name = 'FrameTooLarge';
  }
}

export interface Frame {
  type: number;
  body: Buffer;
}

const HEADER_BYTES = 5;

/**
 * Splits a byte stream into frames. Keeps the chunks it was given and copies each frame's bytes
 * once, when the frame is complete, so a large frame arriving in many chunks costs its size, not
 * its size times the number of chunks.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** @throws ProtocolError when a frame announces more than the maximum size, or none at all. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.#buffered >= HEADER_BYTES) {
      const head = this.#peek(HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length < 1) throw new ProtocolError('A frame without a type');
      if (length > this.#maxFrameBytes) {
        throw new FrameTooLarge(`A frame of ${length} bytes is over the limit of ${this.#maxFrameBytes}`);
      }
      if (this.#buffered < 4 + length) break;
      const frame = this.#take(4 + length);
      frames.push({ type: frame[4] as number, body: frame.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  /** The first `n` bytes, copied only when they span chunks. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const chunk of this.#chunks) {
      at += chunk.copy(out, at, 0, Math.min(chunk.length, n - at));
      if (at === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` bytes (a view when they lie in one chunk). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0] as Buffer;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0] as Buffer;
      const used = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, used);
      at += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/** Reads the fields of one frame's body, checking every bound. */
export class FieldReader {
  #body: Buffer;
  #at = 0;

  constructor(body: Buffer) {
    this.#body = body;
  }

  get done(): boolean {
    return this.#at === this.#body.length;
  }

  u8(): number {
    this.#need(1);
    return this.#body[this.#at++] as number;
  }

  u32(): number {
    this.#need(4);
    const value = this.#body.readUInt32BE(this.#at);
    this.#at += 4;
    return value;
  }

  f64(): number {
    this.#need(8);
    const value = this.#body.readDoubleBE(this.#at);
    this.#at += 8;
    return value;
  }

  bytes(): Buffer {
    const length = this.u32();
    this.#need(length);
    const value = this.#body.subarray(this.#at, this.#at + length);
    this.#at += length;
    return value;
  }

  str(): string {
    return this.bytes().toString('utf8');
  }

  /** The body must end here: trailing bytes mean the two ends disagree. */
  end(): void {
    if (!this.done)
      throw new ProtocolError(`${this.#body.length - this.#at} unexpected bytes after a message`);
  }

  #need(n: number): void {
    if (this.#at + n > this.#body.length) throw new ProtocolError('A message ends inside a field');
  }
}

/**
 * Builds one frame. Strings are measured exactly only when long: a short one gets room for its
 * worst case (3 bytes per UTF-16 unit), which is cheaper than measuring it.
 */
export class FrameWriter {
  #buffer: Buffer;
  #at = HEADER_BYTES;

  constructor(type: number, sizeHint = 256) {
    this.#buffer = Buffer.allocUnsafe(Math.max(sizeHint, 64));
    this.#buffer[4] = type;
  }

  u8(value: number): this {
    this.#room(1);
    this.#buffer[this.#at++] = value;
    return this;
  }

  u32(value: number): this {
    this.#room(4);
    this.#buffer.writeUInt32BE(value >>> 0, this.#at);
    this.#at += 4;
    return this;
  }

  f64(value: number): this {
    this.#room(8);
    this.#buffer.writeDoubleBE(value, this.#at);
    this.#at += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.#room(value.length);
    this.#buffer.set(value, this.#at);
    this.#at += value.length;
    return this;
  }

  str(value: string): this {
    const room = value.length > 1024 ? Buffer.byteLength(value) : value.length * 3;
    this.#room(4 + room);
    const written = this.#buffer.write(value, this.#at + 4, 'utf8');
    this.#buffer.writeUInt32BE(written, this.#at);
    this.#at += 4 + written;
    return this;
  }

  /** The finished frame (a view of the writer's buffer: do not write more afterwards). */
  finish(): Buffer {
    this.#buffer.writeUInt32BE(this.#at - 4, 0);
    return this.#buffer.subarray(0, this.#at);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#at + n));
    this.#buffer.copy(grown, 0, 0, this.#at);
    this.#buffer = grown;
  }
}
