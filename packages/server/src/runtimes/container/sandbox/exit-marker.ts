import { randomBytes } from 'node:crypto';

/**
 * The shim writes `<marker><exit code>\n` on stdout and on stderr once the command has exited,
 * so a run answers at once instead of waiting ~40 ms for the engine to tear the container down.
 * Both streams: the engine delivers them through separate pipes, with no order between them,
 * so each stream is complete only once its own marker has come.
 *
 * The marker starts with an ASCII record separator and holds 128 random bits per job, made on
 * the host when the job is sent: output that is not trying (data a command prints, another
 * job's marker) never matches it. A hostile command could still dig the nonce out of its
 * parent shell's memory (same uid) and print it: that ends its own run early with a code of its
 * choosing, which exiting does too; the run keeps its deadline (sandbox-container.ts) and what
 * follows a marker must be a real code, or the bytes are output like any other.
 */
export function newExitMarker(): string {
  return `\x1efaas-exit-${randomBytes(16).toString('hex')}:`;
}

/** An exit code is 1 to 3 digits and at most 255, then a newline. */
const MAX_CODE_DIGITS = 3;
const NEWLINE = 0x0a;

/** Finds the marker in one stream's output as it arrives, holding back what could begin it. */
export class ExitMarkerScanner {
  #marker: Buffer;
  #held: Buffer = Buffer.alloc(0);
  /** The exit code once the marker line has come; later bytes (background children's) are dropped. */
  code: number | undefined;

  constructor(marker: string) {
    this.#marker = Buffer.from(marker, 'utf8');
  }

  /** The most bytes held back between pushes: a marker and a code without its newline yet. */
  get maxHeldBytes(): number {
    return this.#marker.length + MAX_CODE_DIGITS;
  }

  /** The command's own output in `chunk` (what is certain not to be the marker). */
  push(chunk: Buffer): Buffer {
    if (this.code !== undefined) return Buffer.alloc(0);
    const data = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    for (let from = 0; ; ) {
      const at = data.indexOf(this.#marker, from);
      if (at < 0) break;
      const code = readCode(data, at + this.#marker.length);
      if (code === 'incomplete') {
        this.#held = data.subarray(at);
        return data.subarray(0, at);
      }
      if (code !== 'invalid') {
        this.code = code;
        this.#held = Buffer.alloc(0);
        return data.subarray(0, at);
      }
      // Not followed by a code: the shim did not write it, so it is output.
      from = at + 1;
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

/**
 * What the job's script writes on stderr before anything else, once the request's files are
 * written: the command is about to start. A container that ended without it ran nothing of the
 * job (a spare dead before the job came), so the job may run in another; one that ended after it
 * may have run the command, whose side effects a second run would repeat, output or not.
 */
export function startLine(exitMarker: string): string {
  return `${exitMarker}start\n`;
}

/** A file of the request the script could not write: it reports this in the start line's place. */
export interface FileFailure {
  /** Its place in the request's `files`. */
  index: number;
  /** What the shell said (the reason, such as "Read-only file system"). */
  reason: string;
}

/** The start of a file failure line: `<marker>file <index> <reason, base64>\n`. */
export function fileFailureHead(exitMarker: string): string {
  return `${exitMarker}file `;
}

/** A file failure line is at most this long (the script cuts the reason to 1 KiB). */
const MAX_FILE_FAILURE_LINE_BYTES = 4096;
const FILE_FAILURE_FIELDS = /^([0-9]{1,4}) ([A-Za-z0-9+/]*={0,2})$/;

/**
 * Takes the script's first line off the front of stderr, holding back what could still be it:
 * the start line (`seen`), or in its place the report of a file it could not write
 * (`fileFailure`).
 */
export class StartLineScanner {
  #line: Buffer;
  #failureHead: Buffer;
  #held: Buffer = Buffer.alloc(0);
  #settled = false;
  /** The start line, or a file failure line, came first on stderr: the job reached the container. */
  seen = false;
  /** The file the script could not write, when that came in the start line's place. */
  fileFailure: FileFailure | undefined;

  constructor(exitMarker: string) {
    this.#line = Buffer.from(startLine(exitMarker), 'utf8');
    this.#failureHead = Buffer.from(fileFailureHead(exitMarker), 'utf8');
  }

  /** Stderr's bytes after the first line (all of them when it was not the script's). */
  push(chunk: Buffer): Buffer {
    if (this.#settled) return chunk;
    const data = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    if (data.length < this.#line.length && this.#line.subarray(0, data.length).equals(data)) {
      this.#held = data;
      return Buffer.alloc(0);
    }
    if (data.subarray(0, this.#line.length).equals(this.#line)) return this.#settle(data, this.#line.length);
    const head = this.#failureHead;
    if (head.subarray(0, Math.min(head.length, data.length)).equals(data.subarray(0, head.length))) {
      const end = data.indexOf(0x0a, head.length);
      if (end < 0 && data.length < MAX_FILE_FAILURE_LINE_BYTES) {
        this.#held = data;
        return Buffer.alloc(0);
      }
      const fields =
        end < 0 ? null : FILE_FAILURE_FIELDS.exec(data.subarray(head.length, end).toString('latin1'));
      if (fields) {
        this.fileFailure = {
          index: Number(fields[1]),
          reason: Buffer.from(fields[2] as string, 'base64').toString('utf8'),
        };
        return this.#settle(data, end + 1);
      }
    }
    this.#settled = true;
    this.#held = Buffer.alloc(0);
    return data;
  }

  /** At the end of the stream: what was held back was output after all. */
  flush(): Buffer {
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    this.#settled = true;
    return held;
  }

  #settle(data: Buffer, lineBytes: number): Buffer {
    this.#settled = true;
    this.#held = Buffer.alloc(0);
    this.seen = true;
    return data.subarray(lineBytes);
  }
}

/** The code written at `start`: 1-3 digits, at most 255, and a newline. */
function readCode(data: Buffer, start: number): number | 'incomplete' | 'invalid' {
  let value = 0;
  for (let i = start; i <= start + MAX_CODE_DIGITS; i++) {
    if (i >= data.length) return 'incomplete';
    const byte = data[i] as number;
    if (byte === NEWLINE && i > start) return value <= 255 ? value : 'invalid';
    if (byte < 0x30 || byte > 0x39 || i === start + MAX_CODE_DIGITS) return 'invalid';
    value = value * 10 + (byte - 0x30);
  }
  return 'invalid';
}
