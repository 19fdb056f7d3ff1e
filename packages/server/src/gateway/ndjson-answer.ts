import { PassThrough } from 'node:stream';
import { MAX_UNSENT_BYTES } from './routes/instance-stream.ts';

/**
 * Past MAX_UNSENT_BYTES a run is asked to wait; what it already sent may still come (an agent's
 * output window, 1 MiB, is up to 6 MiB as JSON). Past this the client is dropped.
 */
const DROP_AT_BYTES = 4 * MAX_UNSENT_BYTES;

export interface NdjsonAnswer {
  /** The body to send. */
  body: PassThrough;
  /** Writes one line, unless the client was dropped. */
  write(line: unknown): void;
  /**
   * A promise when the client is behind: the writer waits for it before it produces more (it
   * resolves when the client caught up or left).
   */
  behind(): Promise<void> | undefined;
  end(): void;
}

/**
 * An NDJSON answer written as a run goes, with backpressure: a client that reads slowly slows the
 * run's output down instead of piling it up in memory. A writer that does not wait, past
 * DROP_AT_BYTES unsent, drops the client: `onSlow` stops the run.
 */
export function ndjsonAnswer(onSlow: () => void): NdjsonAnswer {
  const body = new PassThrough();
  const unsent = () => body.writableLength + body.readableLength;
  let dropped = false;
  // One wait for all the writes that find the client behind.
  let caughtUp: Promise<void> | undefined;
  const catchUp = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        body.off('drain', done);
        body.off('close', done);
        caughtUp = undefined;
        resolve();
      };
      body.on('drain', done);
      body.on('close', done);
    });
  return {
    body,
    write(line) {
      if (dropped || body.destroyed) return;
      if (unsent() > DROP_AT_BYTES) {
        dropped = true;
        onSlow();
        body.destroy();
        return;
      }
      body.write(`${JSON.stringify(line)}\n`);
    },
    behind() {
      if (body.destroyed || unsent() <= MAX_UNSENT_BYTES) return undefined;
      caughtUp ??= catchUp();
      return caughtUp;
    },
    end() {
      if (!dropped && !body.destroyed) body.end();
    },
  };
}
