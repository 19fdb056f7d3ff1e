/** Lines kept for the error message of a failed run. */
const LAST_LINES = 5;
/** A line longer than this is cut there: a module that never writes "\n" still logs. */
const MAX_LINE_BYTES = 16 * 1024;

/**
 * Splits a module's stderr (lines at level `error`, as an image function's stderr) into log lines, up to `maxBytes` per invocation (then one truncation
 * notice), and keeps the last few lines for the error of a failed run.
 */
export class StderrLines {
  #maxBytes: number;
  #emit: (level: 'error' | 'warn', line: string) => void;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #loggedBytes = 0;
  #truncated = false;
  #last: string[] = [];

  constructor(maxBytes: number, emit: (level: 'error' | 'warn', line: string) => void) {
    this.#maxBytes = maxBytes;
    this.#emit = emit;
  }

  get last(): string[] {
    return this.#last;
  }

  write(bytes: Uint8Array): void {
    let start = 0;
    for (let newline = bytes.indexOf(10); newline !== -1; newline = bytes.indexOf(10, start)) {
      this.#take(bytes.subarray(start, newline));
      this.#line();
      start = newline + 1;
    }
    this.#take(bytes.subarray(start));
  }

  /** Ends the last line when the module did not. */
  flush(): void {
    if (this.#partialBytes > 0) this.#line();
  }

  #take(bytes: Uint8Array): void {
    let rest = bytes;
    while (this.#partialBytes + rest.length > MAX_LINE_BYTES) {
      const room = MAX_LINE_BYTES - this.#partialBytes;
      this.#partial.push(rest.slice(0, room));
      this.#partialBytes += room;
      this.#line();
      rest = rest.subarray(room);
    }
    if (rest.length > 0) {
      this.#partial.push(rest.slice());
      this.#partialBytes += rest.length;
    }
  }

  #line(): void {
    const line = Buffer.concat(this.#partial, this.#partialBytes).toString('utf8');
    this.#partial = [];
    this.#partialBytes = 0;
    this.#last.push(line);
    if (this.#last.length > LAST_LINES) this.#last.shift();
    if (this.#truncated) return;
    // The newline counts: a module writing only "\n" would otherwise log without end.
    const bytes = Buffer.byteLength(line) + 1;
    if (this.#loggedBytes + bytes > this.#maxBytes) {
      this.#truncated = true;
      this.#emit(
        'warn',
        `[faas] log output truncated: this invocation wrote more than ${this.#maxBytes} bytes of logs`,
      );
      return;
    }
    this.#loggedBytes += bytes;
    this.#emit('error', line);
  }
}
