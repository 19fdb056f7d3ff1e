import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameError,
  PING_ID,
  PING_NONCE_BYTES,
  Request,
} from './agent-frames.ts';
import { EngineStreamDemuxer } from './engine-stream.ts';

/**
 * Requests the agent has not read yet, past which it is taken as wedged. The server never
 * queues this much on purpose: stdin of API processes is sent as the agent reports it taken.
 */
export const MAX_UNSENT_REQUEST_BYTES = 64 * 1024 * 1024;
/** How long the agent may leave the server's requests unread before it is taken as wedged. */
export const AGENT_STALL_MS = 30_000;

export interface AgentLinkHandlers {
  /** Each checked frame from the agent. */
  onFrame: (frame: Frame) => void;
  /**
   * Called once when the link breaks the protocol or the agent stops reading: the link is closed
   * and the instance must not trust its container again. Not called when the stream merely ends.
   */
  onFailure?: (reason: string) => void;
}

/**
 * The server's end of one attach stream to an instance's sandbox agent: frames out on the
 * container's stdin, frames in from its stdout. A new link is made after every (re)start of the
 * container: a restore, a server restart. Everything read is untrusted: it is checked by a
 * bounded demultiplexer and decoder, and a violation fails the link, never the server.
 */
export class AgentLink {
  #stream: Duplex;
  #demuxer = new EngineStreamDemuxer();
  #decoder = new FrameDecoder();
  #handlers: AgentLinkHandlers;
  #pongs = new Map<string, () => void>();
  /** The nonce of the ping a resync waits for, until that ping is sent. */
  #resyncNonce: Buffer | undefined;
  #agentStderr = '';
  #failure: string | undefined;
  #stall: NodeJS.Timeout | undefined;
  #stallMs: number;
  readonly ended: Promise<void>;

  constructor(stream: Duplex, handlers: AgentLinkHandlers, options: { stallMs?: number } = {}) {
    this.#stream = stream;
    this.#handlers = handlers;
    this.#stallMs = options.stallMs ?? AGENT_STALL_MS;
    stream.on('data', (chunk: Buffer) => this.#read(chunk));
    // A write after the engine closed the stream errors again later: never an unhandled error.
    stream.on('error', () => {});
    stream.on('drain', () => {
      clearTimeout(this.#stall);
      this.#stall = undefined;
    });
    this.ended = new Promise((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    void this.ended.then(() => clearTimeout(this.#stall));
  }

  /** What the agent itself wrote to stderr (a crash message), for errors. */
  get agentStderr(): string {
    return this.#agentStderr;
  }

  /** Why the link failed; undefined while it has not. */
  get failure(): string | undefined {
    return this.#failure;
  }

  send(frame: Buffer): void {
    if (this.#failure || this.#stream.destroyed) return;
    const flowing = this.#stream.write(frame);
    if (this.#stream.writableLength > MAX_UNSENT_REQUEST_BYTES) {
      this.fail(`the sandbox agent left ${this.#stream.writableLength} bytes of requests unread`);
      return;
    }
    // The agent reads its requests at once, whatever its processes do: a backlog that does not
    // drain means it is stopped or wedged.
    if (flowing || this.#stall) return;
    this.#stall = setTimeout(
      () => this.fail(`the sandbox agent read none of its requests for ${this.#stallMs} ms`),
      this.#stallMs,
    );
    this.#stall.unref();
  }

  /**
   * Drops the agent's bytes from now on up to the answer of the next ping. A stream joined
   * mid-way may begin inside a frame: after a server restart, or from a container restored from
   * a checkpoint, whose agent goes on with the write it was in. A restore calls this before the
   * container starts: its agent's first bytes may come before the ping goes out.
   */
  resync(): void {
    this.#resyncNonce = randomBytes(PING_NONCE_BYTES);
    this.#decoder.resyncOn(this.#resyncNonce);
  }

  /** Resolves once the agent answers a ping (the one a `resync` waits for, when one does). */
  async ping(timeoutMs: number): Promise<void> {
    const nonce = this.#resyncNonce ?? randomBytes(PING_NONCE_BYTES);
    this.#resyncNonce = undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#pongs.set(nonce.toString('hex'), resolve);
          this.send(encodeFrame(Request.ping, PING_ID, nonce));
        }),
        this.ended.then(() => {
          const why = this.#failure ?? this.#agentStderr.trim();
          throw new Error(`the sandbox agent stopped${why ? `: ${why}` : ''}`);
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

  /** Breaks the link for good: nothing more is read from or sent to this agent. */
  fail(reason: string): void {
    if (this.#failure) return;
    this.#failure = reason;
    this.#stream.destroy();
    try {
      this.#handlers.onFailure?.(reason);
    } catch {
      // The failure is recorded on the link; a broken handler must not reach the stream's reader.
    }
  }

  close(): void {
    this.#stream.destroy();
  }

  #read(chunk: Buffer): void {
    if (this.#failure) return;
    try {
      for (const part of this.#demuxer.push(chunk)) {
        if (part.stream === 'stderr') {
          this.#agentStderr = (this.#agentStderr + part.data.subarray(-4000).toString('utf8')).slice(-4000);
          continue;
        }
        let frames: Frame[];
        try {
          frames = this.#decoder.push(part.data);
        } catch (err) {
          if (err instanceof FrameError) for (const frame of err.frames) this.#deliver(frame);
          throw err;
        }
        for (const frame of frames) {
          if (this.#failure) return;
          this.#deliver(frame);
        }
      }
    } catch (err) {
      this.fail(`the sandbox agent broke the protocol: ${(err as Error).message}`);
    }
  }

  #deliver(frame: Frame): void {
    if (frame.type === 'p') {
      this.#pongs.get(frame.payload.toString('hex'))?.();
      return;
    }
    this.#handlers.onFrame(frame);
  }
}
