import { FrameError } from './agent-frames.ts';

export interface EngineStreamPart {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

const HEADER_BYTES = 8;
const STREAMS = { 1: 'stdout', 2: 'stderr' } as const;

/**
 * Splits the engine's multiplexed attach stream (no TTY): each piece is 1 byte stream (1 stdout,
 * 2 stderr), 3 zero bytes, a u32 size, then that many bytes. The bytes are passed on as they
 * come, in slices of the chunks read: nothing of a piece is held back, so its size needs no
 * bound. A header that is not the engine's throws FrameError (and every later push does too).
 */
export class EngineStreamDemuxer {
  #header = Buffer.alloc(HEADER_BYTES);
  #headerFill = 0;
  #stream: EngineStreamPart['stream'] | undefined;
  #left = 0;
  #error: FrameError | undefined;

  push(chunk: Buffer): EngineStreamPart[] {
    if (this.#error) throw this.#error;
    const parts: EngineStreamPart[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#stream === undefined) {
        const take = Math.min(HEADER_BYTES - this.#headerFill, chunk.length - at);
        chunk.copy(this.#header, this.#headerFill, at, at + take);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < HEADER_BYTES) break;
        this.#headerFill = 0;
        const stream = STREAMS[this.#header[0] as 1 | 2];
        if (!stream || this.#header[1] !== 0 || this.#header[2] !== 0 || this.#header[3] !== 0) {
          this.#error = new FrameError(
            `the engine's attach stream has a bad header ${this.#header.toString('hex')}`,
          );
          throw this.#error;
        }
        this.#stream = stream;
        this.#left = this.#header.readUInt32BE(4);
      }
      const take = Math.min(this.#left, chunk.length - at);
      if (take > 0) parts.push({ stream: this.#stream, data: chunk.subarray(at, at + take) });
      this.#left -= take;
      at += take;
      if (this.#left === 0) this.#stream = undefined;
    }
    return parts;
  }
}
