import type { AgentLink } from './agent-link.ts';

export interface StartProcessOptions {
  env?: Record<string, string>;
  /** @default /workspace */
  cwd?: string;
  tty?: { rows: number; cols: number };
  /** The server's own work (file transfer, snapshots): nothing is published to watchers. */
  silent?: boolean;
  /**
   * Flow control: the agent sends output only as credited (`grantOutput`), and stdin goes out
   * only as fast as the process takes it (`writeInput`).
   */
  flow?: boolean;
}

export interface ProcessExit {
  code: number;
  pid?: number;
}

/** A process started through the agent. `process` numbers it within the instance. */
export interface RunningProcess {
  process: number;
  command: string[];
  /** The exit code (128 + signal when killed), and the pid once the agent reported it. */
  exited: Promise<ProcessExit>;
}

/**
 * What running a command to its end needs of an instance (instance-exec.ts), apart from the
 * Instance class so the two do not import each other.
 */
export interface ProcessHost {
  readonly link: AgentLink | undefined;
  start(
    command: string[],
    options?: StartProcessOptions,
    onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): RunningProcess;
  grantOutput(process: number, bytes: number): void;
  writeInput(process: number, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<boolean>;
  closeStdin(process: number): void;
  signal(process: number, signal: number): void;
  hasProcess(process: number): boolean;
}
