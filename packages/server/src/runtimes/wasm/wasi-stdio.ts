/** WASI errno values this module answers with. */
const ERRNO = { success: 0, badf: 8, fault: 21, inval: 28, nosys: 52, notsup: 58, spipe: 70 } as const;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHT_FD_READ = 0x2n;
const RIGHT_FD_WRITE = 0x40n;
const RIGHT_POLL_FD_READWRITE = 1n << 27n;
const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;
const EVENT_CLOCK = 0;
const CLOCK_REALTIME = 0;
const SLEEP_PAST_DEADLINE_MS = 1000;
const SUBCLOCK_ABSTIME = 1;

/** Thrown out of `fd_write` to stop a module whose stdout passed the result limit. */
export class ResultTooLarge extends Error {
  readonly bytes: number;
  constructor(bytes: number) {
    super(`stdout passed ${bytes} bytes`);
    this.bytes = bytes;
  }
}

export interface StdioOptions {
  stdin: Uint8Array;
  maxStdoutBytes: number;
  /** Receives stderr as it is written, in the order written. */
  onStderr: (bytes: Uint8Array) => void;
  /**
   * Ms since epoch: the runtime terminates the thread there. A sleep (poll_oneoff) ends at most
   * a little after it, so a thread whose termination went astray is not held for the full sleep.
   */
  deadline: number;
}

/**
 * The module's view of file descriptors: stdin is the event, stdout and stderr are kept in memory
 * here (stdout capped), and no other descriptor exists. Every `fd_*`, `path_*` and `sock_*`
 * import is answered here, so node:wasi never touches a descriptor of the server's process: its
 * stdio would be the server's own (a module could close or write to them), and `fd_close` on a
 * descriptor the process reuses later would close someone else's file. `proc_raise` (which raises
 * the signal in the server's process) is refused; `poll_oneoff` sleeps here, interruptibly.
 */
export class WasiStdio {
  #options: StdioOptions;
  #stdinOffset = 0;
  #stdout: Uint8Array[] = [];
  #stdoutBytes = 0;
  #memory: WebAssembly.Memory | undefined;
  #sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(options: StdioOptions) {
    this.#options = options;
  }

  /** The instance's memory, once instantiated: every call below reads and writes it. */
  attach(memory: WebAssembly.Memory): void {
    this.#memory = memory;
  }

  stdout(): Uint8Array {
    return Buffer.concat(this.#stdout, this.#stdoutBytes);
  }

  /** Replaces node:wasi's descriptor functions in its import object with these. */
  override(imports: Record<string, unknown>): void {
    for (const name of Object.keys(imports)) {
      if (/^(fd|path|sock)_/.test(name))
        imports[name] = (fd: number) => (fd <= 2 ? ERRNO.notsup : ERRNO.badf);
    }
    const guarded =
      (fn: (...args: number[]) => number) =>
      (...args: number[]) => {
        try {
          return fn(...args);
        } catch (err) {
          // Pointers outside the memory: the module's fault, answered as POSIX would.
          if (err instanceof RangeError) return ERRNO.fault;
          throw err;
        }
      };
    imports.fd_write = guarded((fd, iovs, count, written) => this.#write(fd, iovs, count, written));
    imports.fd_read = guarded((fd, iovs, count, read) => this.#read(fd, iovs, count, read));
    imports.fd_fdstat_get = guarded((fd, at) => this.#fdstat(fd, at));
    imports.fd_close = (fd: number) => (fd <= 2 ? ERRNO.success : ERRNO.badf);
    imports.fd_seek = (fd: number) => (fd <= 2 ? ERRNO.spipe : ERRNO.badf);
    imports.fd_tell = (fd: number) => (fd <= 2 ? ERRNO.spipe : ERRNO.badf);
    imports.fd_prestat_get = () => ERRNO.badf;
    imports.poll_oneoff = guarded((input, output, count, events) => this.#poll(input, output, count, events));
    imports.proc_raise = () => ERRNO.nosys;
    imports.sched_yield = () => ERRNO.success;
  }

  #view(): DataView {
    if (!this.#memory) throw new Error('WASI call before the module was started');
    return new DataView(this.#memory.buffer);
  }

  #bytes(at: number, length: number): Uint8Array {
    if (!this.#memory) throw new Error('WASI call before the module was started');
    if (at + length > this.#memory.buffer.byteLength) throw new RangeError('out of bounds');
    return new Uint8Array(this.#memory.buffer, at, length);
  }

  #write(fd: number, iovs: number, count: number, written: number): number {
    if (fd !== 1 && fd !== 2) return fd === 0 ? ERRNO.notsup : ERRNO.badf;
    const view = this.#view();
    let total = 0;
    for (let i = 0; i < count; i++) {
      const buf = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (len === 0) continue;
      const chunk = this.#bytes(buf, len).slice();
      total += len;
      if (fd === 2) {
        this.#options.onStderr(chunk);
        continue;
      }
      this.#stdoutBytes += len;
      if (this.#stdoutBytes > this.#options.maxStdoutBytes) throw new ResultTooLarge(this.#stdoutBytes);
      this.#stdout.push(chunk);
    }
    view.setUint32(written, total, true);
    return ERRNO.success;
  }

  #read(fd: number, iovs: number, count: number, read: number): number {
    if (fd !== 0) return fd <= 2 ? ERRNO.notsup : ERRNO.badf;
    const view = this.#view();
    const stdin = this.#options.stdin;
    let total = 0;
    for (let i = 0; i < count && this.#stdinOffset < stdin.length; i++) {
      const buf = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      const n = Math.min(len, stdin.length - this.#stdinOffset);
      this.#bytes(buf, n).set(stdin.subarray(this.#stdinOffset, this.#stdinOffset + n));
      this.#stdinOffset += n;
      total += n;
    }
    view.setUint32(read, total, true);
    return ERRNO.success;
  }

  #fdstat(fd: number, at: number): number {
    if (fd > 2) return ERRNO.badf;
    const view = this.#view();
    this.#bytes(at, 24).fill(0);
    view.setUint8(at, FILETYPE_CHARACTER_DEVICE);
    const rights = (fd === 0 ? RIGHT_FD_READ : RIGHT_FD_WRITE) | RIGHT_POLL_FD_READWRITE;
    view.setBigUint64(at + 8, rights, true);
    return ERRNO.success;
  }

  /**
   * Clock subscriptions sleep (Atomics.wait, which worker.terminate() interrupts, where a native
   * sleep in node:wasi would hold the thread past the timeout); descriptor subscriptions are ready
   * at once (stdin is all there, stdout never blocks).
   */
  #poll(input: number, output: number, count: number, events: number): number {
    if (count === 0) return ERRNO.inval;
    const view = this.#view();
    this.#bytes(input, count * SUBSCRIPTION_BYTES);
    this.#bytes(output, count * EVENT_BYTES);
    const ready: Array<{ at: number; type: number }> = [];
    let sleepNs: bigint | undefined;
    let soonest: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = input + i * SUBSCRIPTION_BYTES;
      const type = view.getUint8(at + 8);
      if (type !== EVENT_CLOCK) {
        ready.push({ at, type });
        continue;
      }
      const clock = view.getUint32(at + 16, true);
      let timeout = view.getBigUint64(at + 24, true);
      if (view.getUint16(at + 40, true) & SUBCLOCK_ABSTIME) {
        const now = clock === CLOCK_REALTIME ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
        timeout = timeout > now ? timeout - now : 0n;
      }
      if (sleepNs === undefined || timeout < sleepNs) {
        sleepNs = timeout;
        soonest = [at];
      } else if (timeout === sleepNs) {
        soonest.push(at);
      }
    }
    if (ready.length === 0 && sleepNs !== undefined) {
      // Past the deadline rather than at it: a sleep that ended exactly there would race the
      // runtime's timeout and could answer as if it had finished in time.
      const untilDeadlineMs = Math.max(0, this.#options.deadline - Date.now()) + SLEEP_PAST_DEADLINE_MS;
      const ms = Math.min(Number(sleepNs / 1_000_000n), untilDeadlineMs);
      if (ms > 0) Atomics.wait(this.#sleeper, 0, 0, ms);
      for (const at of soonest) ready.push({ at, type: EVENT_CLOCK });
    }
    ready.forEach((event, i) => {
      const out = output + i * EVENT_BYTES;
      this.#bytes(out, EVENT_BYTES).fill(0);
      view.setBigUint64(out, view.getBigUint64(event.at, true), true);
      view.setUint8(out + 10, event.type);
    });
    view.setUint32(events, ready.length, true);
    return ERRNO.success;
  }
}
