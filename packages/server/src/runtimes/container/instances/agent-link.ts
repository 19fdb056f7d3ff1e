import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { encodeFrame, type Frame, FrameDecoder, PING_ID, Request } from './agent-frames.ts';

/**
 * The server's end of one attach stream to an instance's sandbox agent: frames out on the
 * container's stdin, frames in from its stdout. A new link is made after every (re)start of the
 * container: a restore, a server restart.
 */
export class AgentLink {
  #stream: Duplex;
  #decoder = new FrameDecoder();
  #onFrame: (frame: Frame) => void;
  #pongs = new Map<string, () => void>();
  #agentStderr = '';
  readonly ended: Promise<void>;

  constructor(stream: Duplex, onFrame: (frame: Frame) => void) {
    this.#stream = stream;
    this.#onFrame = onFrame;
    let pending: Buffer = Buffer.alloc(0);
    // Without a TTY the engine multiplexes: 1 byte stream, 3 zero, 4 bytes size, then data.
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        const data = pending.subarray(8, 8 + size);
        if (pending[0] === 2) this.#agentStderr = (this.#agentStderr + data.toString('utf8')).slice(-4000);
        else for (const frame of this.#decoder.push(data)) this.#deliver(frame);
        pending = pending.subarray(8 + size);
      }
    });
    this.ended = new Promise((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  }

  /** What the agent itself wrote to stderr (a crash message), for errors. */
  get agentStderr(): string {
    return this.#agentStderr;
  }

  send(frame: Buffer): void {
    this.#stream.write(frame);
  }

  /**
   * Resolves once the agent answers a ping. With `resync`, bytes before the answer are dropped:
   * a stream joined mid-way (after a server restart or a restore) may begin inside a frame.
   */
  async ping(timeoutMs: number, resync = false): Promise<void> {
    const nonce = randomBytes(16);
    if (resync) this.#decoder.resyncOn(nonce);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#pongs.set(nonce.toString('hex'), resolve);
          this.send(encodeFrame(Request.ping, PING_ID, nonce));
        }),
        this.ended.then(() => {
          throw new Error(
            `the sandbox agent stopped${this.#agentStderr ? `: ${this.#agentStderr.trim()}` : ''}`,
          );
        }),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the sandbox agent did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.#pongs.delete(nonce.toString('hex'));
    }
  }

  close(): void {
    this.#stream.destroy();
  }

  #deliver(frame: Frame): void {
    if (frame.type === 'p' && frame.id === PING_ID) {
      this.#pongs.get(frame.payload.toString('hex'))?.();
      return;
    }
    this.#onFrame(frame);
  }
}
