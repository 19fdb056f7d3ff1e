import { randomBytes } from 'node:crypto';

/**
 * The shim writes `<marker><exit code>\n` on stdout and on stderr once the command has exited,
 * so a run answers at once instead of waiting ~40 ms for the engine to tear the container down.
 * Both streams: the engine delivers them through separate pipes, with no order between them,
 * so each stream is complete only once its own marker has come. The marker starts with an
 * ASCII record separator and holds a random nonce per job, so no output mistakes itself for it.
 */
export function newExitMarker(): string {
  return `\x1efaas-exit-${randomBytes(8).toString('hex')}:`;
}

/** Finds the marker in one stream's output as it arrives, holding back what could begin it. */
export class ExitMarkerScanner {
  #marker: Buffer;
  #held: Buffer = Buffer.alloc(0);
  /** The exit code once the marker line has come; later bytes (background children's) are dropped. */
  code: number | undefined;

  constructor(marker: string) {
    this.#marker = Buffer.from(marker, 'utf8');
  }

  /** The command's own output in `chunk` (what is certain not to be the marker). */
  push(chunk: Buffer): Buffer {
    if (this.code !== undefined) return Buffer.alloc(0);
    const data = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    const at = data.indexOf(this.#marker);
    if (at >= 0) {
      const end = data.indexOf(0x0a, at + this.#marker.length);
      if (end < 0) {
        this.#held = data.subarray(at);
        return data.subarray(0, at);
      }
      const code = Number(data.subarray(at + this.#marker.length, end).toString('latin1'));
      this.code = Number.isInteger(code) ? code : 1;
      this.#held = Buffer.alloc(0);
      return data.subarray(0, at);
    }
    const keep = this.#partialMarkerAtEnd(data);
    this.#held = data.subarray(data.length - keep);
    return data.subarray(0, data.length - keep);
  }

  /** At the end of the stream: whatever was held back was output after all. */
  flush(): Buffer {
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    return this.code === undefined ? held : Buffer.alloc(0);
  }

  /** How many bytes at the end of `data` could be the start of the marker. */
  #partialMarkerAtEnd(data: Buffer): number {
    const from = Math.max(0, data.length - this.#marker.length + 1);
    for (
      let at = data.indexOf(this.#marker[0] as number, from);
      at >= 0;
      at = data.indexOf(this.#marker[0] as number, at + 1)
    ) {
      const tail = data.subarray(at);
      if (this.#marker.subarray(0, tail.length).equals(tail)) return tail.length;
    }
    return 0;
  }
}
