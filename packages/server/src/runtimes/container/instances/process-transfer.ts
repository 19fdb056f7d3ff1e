import { Readable } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import type { Instance, ProcessExit, RunningProcess } from './instance.ts';
import { awaitExit } from './instance-exec.ts';

/** Output the agent may send ahead of the reader (with what the stream buffers, the memory bound). */
export const OUTPUT_WINDOW_BYTES = 256 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;

export interface TransferOptions {
  /** The whole transfer's deadline, on the server's clock. */
  timeoutMs: number;
  /** stdout past this fails the transfer (the process is killed). @default unbounded */
  maxOutputBytes?: number;
  /** What `maxOutputBytes` protects, for the error. @default 'the output' */
  what?: string;
  /** Cancels: the process is killed. */
  signal?: AbortSignal;
  /** The error `output` fails with when the process exits non-zero. @default TransferFailed */
  failure?: (end: TransferEnd) => Error;
}

export interface TransferEnd extends ProcessExit {
  timedOut: boolean;
  /** The first 64 KiB of stderr. */
  stderr: string;
}

/**
 * A command in an instance that moves bytes through the server with backpressure both ways
 * (the agent's flow control): `output` is its stdout, read no faster than the reader takes it;
 * `send` feeds its stdin no faster than it takes it. The server holds a few hundred KiB per
 * transfer whatever the size. Silent: nothing is published to the instance's watchers.
 */
export class ProcessTransfer {
  readonly output: Readable;
  /** Resolves when the process ends (never rejects). */
  readonly ended: Promise<TransferEnd>;
  #instance: Instance;
  #running: RunningProcess;
  #owed = 0;
  #received = 0;
  #stderr: Buffer[] = [];
  #stderrBytes = 0;
  #aborter = new AbortController();
  #error: Error | undefined;

  constructor(instance: Instance, command: string[], options: TransferOptions) {
    this.#instance = instance;
    this.output = new Readable({
      highWaterMark: OUTPUT_WINDOW_BYTES,
      read: () => this.#credit(),
      destroy: (err, callback) => {
        // A reader that goes away (a client closing its download) ends the process.
        this.#aborter.abort();
        callback(err);
      },
    });
    // Its error reaches whoever reads it; with no reader yet (an upload's, a failure before a
    // response), an unheard error must not be the server's crash.
    this.output.on('error', () => {});
    this.#running = instance.start(command, { silent: true, flow: true }, (stream, data) =>
      stream === 'stdout' ? this.#stdout(data, options) : this.#stderrData(data),
    );
    instance.grantOutput(this.#running.process, OUTPUT_WINDOW_BYTES);
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#aborter.signal])
      : this.#aborter.signal;
    this.ended = instance
      .using(() => awaitExit(instance, this.#running, options.timeoutMs, signal))
      .then((exit) => {
        const end = { ...exit, stderr: Buffer.concat(this.#stderr).toString('utf8') };
        if (this.#error) this.output.destroy(this.#error);
        else if (exit.timedOut)
          this.output.destroy(new FaasError(ErrorCode.FUNCTION_TIMEOUT, 'The transfer took too long'));
        else if (exit.code !== 0) this.output.destroy(options.failure?.(end) ?? new TransferFailed(end));
        else this.output.push(null);
        return end;
      });
  }

  /**
   * Feeds `source` to the process's stdin, then closes it. Past `maxBytes` the transfer fails
   * (BODY_TOO_LARGE) and the process is killed. Resolves with the bytes sent.
   */
  async send(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<number> {
    let sent = 0;
    const counted = async function* (this: ProcessTransfer) {
      for await (const chunk of source) {
        sent += chunk.length;
        if (sent > maxBytes) {
          this.#aborter.abort();
          throw new FaasError(ErrorCode.BODY_TOO_LARGE, `The upload is over ${maxBytes} bytes`);
        }
        yield chunk;
      }
    }.call(this);
    try {
      if (await this.#instance.writeInput(this.#running.process, counted)) {
        this.#instance.closeStdin(this.#running.process);
      }
    } catch (err) {
      this.#aborter.abort();
      throw err;
    }
    return sent;
  }

  /** Kills the process. */
  kill(): void {
    this.#aborter.abort();
  }

  #stdout(data: Buffer, options: TransferOptions): void {
    this.#received += data.length;
    if (options.maxOutputBytes !== undefined && this.#received > options.maxOutputBytes) {
      this.#error ??= new FaasError(
        ErrorCode.BODY_TOO_LARGE,
        `${options.what ?? 'The output'} is over ${options.maxOutputBytes} bytes`,
      );
      this.#aborter.abort();
      return;
    }
    // Credit goes back as the reader takes the bytes: right away while it keeps up.
    if (this.output.push(data)) this.#instance.grantOutput(this.#running.process, data.length);
    else this.#owed += data.length;
  }

  #stderrData(data: Buffer): void {
    // stderr spends the same credit: it is given back at once.
    this.#instance.grantOutput(this.#running.process, data.length);
    if (this.#stderrBytes >= MAX_STDERR_BYTES) return;
    this.#stderr.push(Buffer.from(data.subarray(0, MAX_STDERR_BYTES - this.#stderrBytes)));
    this.#stderrBytes += data.length;
  }

  #credit(): void {
    if (this.#owed === 0) return;
    this.#instance.grantOutput(this.#running.process, this.#owed);
    this.#owed = 0;
  }
}

/** The transfer's command exited non-zero: its stderr says why. */
export class TransferFailed extends Error {
  readonly end: TransferEnd;

  constructor(end: TransferEnd) {
    super(end.stderr.trim() || `exit code ${end.code}`);
    this.name = 'TransferFailed';
    this.end = end;
  }
}
