// A wasm worker thread (worker_threads entry): runs one WASI invocation at a time, as the
// WasmRuntime asks. Tenant code runs only here, never on a thread that serves requests; the
// runtime terminates this thread at an invocation's deadline and starts another.

import { WASI } from 'node:wasi';
import { parentPort } from 'node:worker_threads';
import { WASM_PAGE_BYTES } from './memory-cap.ts';
import { StderrLines } from './stderr-lines.ts';
import { WASI_MODULE } from './wasi-functions.ts';
import { ResultTooLarge, WasiStdio } from './wasi-stdio.ts';
import type { LogEntry, RunEnd, RunRequest, WorkerReply } from './worker-messages.ts';

const port = parentPort;
if (!port) throw new Error('wasi-worker.ts runs as a worker thread');
const reply = (message: WorkerReply) => port.postMessage(message);

port.on('message', (request: RunRequest) => {
  const logs = new LogBatch((lines) => reply({ type: 'logs', id: request.id, lines }));
  const lines = new StderrLines(request.maxLogBytes, (level, line) =>
    logs.add({ level, line, ts: Date.now() }),
  );
  const stdio = new WasiStdio({
    stdin: request.stdin,
    maxStdoutBytes: request.maxStdoutBytes,
    onStderr: (bytes) => lines.write(bytes),
    deadline: request.deadline,
  });
  // No preopens: the module sees no file system. Its env is the function's, its args [name].
  const wasi = new WASI({ version: 'preview1', args: request.args, env: request.env, returnOnExit: true });
  const imports = wasi.getImportObject() as Record<string, Record<string, unknown>>;
  const wasiImports = imports[WASI_MODULE] ?? {};
  stdio.override(wasiImports);
  let memory: WebAssembly.Memory | undefined;
  let end: RunEnd;
  try {
    const instance = new WebAssembly.Instance(request.module, {
      [WASI_MODULE]: wasiImports,
    } as WebAssembly.Imports);
    memory = instance.exports.memory as WebAssembly.Memory;
    stdio.attach(memory);
    const code = wasi.start(instance);
    end = { kind: 'exited', code: typeof code === 'number' ? code : 0, stdout: stdio.stdout() };
  } catch (err) {
    end = ended(err);
  }
  lines.flush();
  logs.flush();
  const memoryBytes = memory?.buffer.byteLength ?? 0;
  reply({
    type: 'done',
    id: request.id,
    end,
    lastLines: lines.last,
    memoryBytes,
    memoryFull: memoryBytes + fullMargin(request.memoryLimitBytes) > request.memoryLimitBytes,
  });
});

/**
 * Room under the limit that still counts as full: an allocator asks for more than one page at a
 * time (the memory-hog fixture 1 MiB), so the growth that failed can be up to this much.
 */
function fullMargin(limitBytes: number): number {
  return Math.max(WASM_PAGE_BYTES, Math.floor(limitBytes / 16));
}

/** Lines leave in batches (one message per ~20 ms or 100 lines), not one message per line. */
class LogBatch {
  static readonly MAX_LINES = 100;
  static readonly MAX_AGE_MS = 20;
  #send: (lines: LogEntry[]) => void;
  #lines: LogEntry[] = [];
  #since = 0;

  constructor(send: (lines: LogEntry[]) => void) {
    this.#send = send;
  }

  add(entry: LogEntry): void {
    if (this.#lines.length === 0) this.#since = entry.ts;
    this.#lines.push(entry);
    if (this.#lines.length >= LogBatch.MAX_LINES || entry.ts - this.#since >= LogBatch.MAX_AGE_MS)
      this.flush();
  }

  flush(): void {
    if (this.#lines.length === 0) return;
    this.#send(this.#lines);
    this.#lines = [];
  }
}

function ended(err: unknown): RunEnd {
  if (err instanceof ResultTooLarge) return { kind: 'too-large', bytes: err.bytes };
  if (err instanceof Error) {
    return {
      kind: 'trapped',
      type: err.constructor.name,
      message: err.message,
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return { kind: 'trapped', type: 'Error', message: String(err) };
}
