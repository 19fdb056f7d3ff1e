/** What the runtime asks a wasm worker thread to run: one invocation. */
export interface RunRequest {
  type: 'run';
  id: number;
  module: WebAssembly.Module;
  stdin: Uint8Array;
  env: Record<string, string>;
  args: string[];
  /** Ms since epoch: sleeps end there (the runtime terminates the worker at it). */
  deadline: number;
  maxStdoutBytes: number;
  maxLogBytes: number;
  memoryLimitBytes: number;
}

/** How the module's run ended, as the worker saw it. */
export type RunEnd =
  | { kind: 'exited'; code: number; stdout: Uint8Array }
  | { kind: 'trapped'; type: string; message: string; stack?: string }
  | { kind: 'too-large'; bytes: number };

export interface LogEntry {
  level: 'error' | 'warn';
  line: string;
  /** When the module wrote it, ms since epoch. */
  ts: number;
}

export type WorkerReply =
  | { type: 'logs'; id: number; lines: LogEntry[] }
  | {
      type: 'done';
      id: number;
      end: RunEnd;
      /** The last stderr lines, for the error of a failed run. */
      lastLines: string[];
      memoryBytes: number;
      /** Whether the memory was (nearly) at its limit: see runOutcome. */
      memoryFull: boolean;
    };
