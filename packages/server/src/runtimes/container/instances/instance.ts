import { StringDecoder } from 'node:string_decoder';
import {
  checkProcessInput,
  ErrorCode,
  FaasError,
  type InstanceSpec,
  type InstanceView,
  jsonNestsDeeperThan,
  type SnapshotProcess,
} from '@faas/core';
import {
  Event,
  encodeCredit,
  encodeExec,
  encodeFrame,
  encodeResize,
  type Frame,
  MAX_REQUEST_PAYLOAD,
  Request,
} from './agent-frames.ts';
import type { AgentLink } from './agent-link.ts';
import { INSTANCE_WORKDIR } from './instance-container.ts';
import { type InstanceEvent, InstanceEventHub } from './instance-events.ts';
import { type ExecOptions, type ExecResult, runToEnd } from './instance-exec.ts';
import type { ProcessExit, RunningProcess, StartProcessOptions } from './instance-process.ts';

export type { ProcessExit, RunningProcess, StartProcessOptions } from './instance-process.ts';

export type InstanceState = InstanceView['status'];

/** States that hold a running (or about to run) container: what the bounds on live instances count. */
const LIVE_STATES: ReadonlySet<InstanceState> = new Set(['starting', 'running', 'checkpointing', 'stopping']);

/** Stdin bytes of a flow-controlled process sent but not yet taken, at most. */
export const STDIN_WINDOW_BYTES = 1024 * 1024;
/** Largest stdin frame (well under the agent's bound). */
const STDIN_PIECE_BYTES = Math.min(256 * 1024, MAX_REQUEST_PAYLOAD);
interface ProcessEntry {
  command: string[];
  pid?: number;
  tty: boolean;
  silent: boolean;
  decoders: { stdout: StringDecoder; stderr: StringDecoder };
  onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  resolve: (exit: ProcessExit) => void;
  /** Flow-controlled processes: stdin sent and not yet taken, and a writer waiting for room. */
  stdin?: { inFlight: number; wake: (() => void) | undefined };
}

const FILE_KINDS = { c: 'created', m: 'modified', d: 'deleted' } as const;

/**
 * A running sandbox, as the server sees it: its spec, its state, the processes started in it
 * and the events it publishes. Talks to the container's agent over an AgentLink; the manager
 * replaces the link when the container restarts (restore, server restart).
 */
export class Instance {
  readonly id: string;
  readonly spec: InstanceSpec;
  /** When it became an instance (a standby: when it was taken). */
  createdAt: number;
  readonly events = new InstanceEventHub();
  containerId: string;
  #state: InstanceState = 'starting';
  /** Told when the instance comes to hold a running container, or stops holding one. */
  onLiveChange: ((instance: Instance) => void) | undefined;
  /** Why the instance failed (state `failed`); undefined otherwise. */
  reason: string | undefined;
  /** The API key that made it (for the per-key bound); undefined when auth is off. */
  owner: string | undefined;
  /** The spec's command, once started by this server: where stream stdin goes by default. */
  mainProcess: number | undefined;
  lastActiveAt = Date.now();
  #link: AgentLink | undefined;
  #processes = new Map<number, ProcessEntry>();
  /** Execs and transfers running: an instance doing them is not idle. */
  #busy = 0;
  // Random start: a restarted server must not reuse the numbers of processes still running.
  #nextProcess = 1 + Math.floor(Math.random() * 2 ** 30);

  constructor(id: string, spec: InstanceSpec, containerId: string, createdAt: number, owner?: string) {
    this.id = id;
    this.spec = spec;
    this.containerId = containerId;
    this.createdAt = createdAt;
    this.owner = owner;
  }

  get state(): InstanceState {
    return this.#state;
  }

  set state(next: InstanceState) {
    const was = this.live;
    this.#state = next;
    if (was !== this.live) this.onLiveChange?.(this);
  }

  /** Whether it holds a running (or about to run) container. */
  get live(): boolean {
    return LIVE_STATES.has(this.#state);
  }

  /** Frames from a new link come here. */
  handleFrame = (frame: Frame): void => {
    const entry = this.#processes.get(frame.id);
    if (frame.type === Event.stdinTaken) {
      if (entry?.stdin) {
        entry.stdin.inFlight = Math.max(0, entry.stdin.inFlight - frame.payload.readUInt32BE(0));
        entry.stdin.wake?.();
      }
      return;
    }
    if (entry?.silent) {
      if (frame.type === Event.stdout || frame.type === Event.stderr) {
        entry.onOutput?.(frame.type === Event.stdout ? 'stdout' : 'stderr', frame.payload);
      } else if (frame.type === Event.exit) {
        this.#processes.delete(frame.id);
        entry.stdin?.wake?.();
        entry.resolve({ code: frame.payload.readInt32BE(0) });
      }
      return;
    }
    switch (frame.type) {
      case Event.started: {
        if (!entry) return;
        entry.pid = frame.payload.readUInt32BE(0);
        this.#publish({
          type: 'process_event',
          event: 'start',
          process: frame.id,
          pid: entry.pid,
          command: commandText(entry.command),
        });
        return;
      }
      case Event.stdout:
      case Event.stderr: {
        const stream = frame.type === Event.stdout ? 'stdout' : 'stderr';
        entry?.onOutput?.(stream, frame.payload);
        const data = entry ? entry.decoders[stream].write(frame.payload) : frame.payload.toString('utf8');
        if (data)
          this.#publish({ type: stream, data, process: frame.id, ...(entry?.pid ? { pid: entry.pid } : {}) });
        return;
      }
      case Event.exit: {
        const code = frame.payload.readInt32BE(0);
        this.#processes.delete(frame.id);
        if (entry) {
          for (const stream of ['stdout', 'stderr'] as const) {
            const rest = entry.decoders[stream].end();
            if (rest)
              this.#publish({
                type: stream,
                data: rest,
                process: frame.id,
                ...(entry.pid ? { pid: entry.pid } : {}),
              });
          }
        }
        const pid = entry?.pid ? { pid: entry.pid } : {};
        entry?.stdin?.wake?.();
        this.#publish({ type: 'exit', code, process: frame.id, ...pid });
        this.#publish({
          type: 'process_event',
          event: 'exit',
          process: frame.id,
          ...pid,
          command: entry ? commandText(entry.command) : '',
          code,
        });
        entry?.resolve({ code, ...pid });
        return;
      }
      case Event.file: {
        const kind = FILE_KINDS[String.fromCharCode(frame.payload[0] ?? 0) as keyof typeof FILE_KINDS];
        if (kind)
          this.#publish({
            type: 'file_event',
            path: frame.payload.subarray(1).toString('utf8'),
            event: kind,
          });
        return;
      }
      case Event.custom:
        this.#publish(customEvent(frame.payload.toString('utf8')));
        return;
      default:
      // `L`: the agent's own notes ("ready"); nothing for watchers.
    }
  };

  setLink(link: AgentLink | undefined): void {
    this.#link = link;
  }

  get link(): AgentLink | undefined {
    return this.#link;
  }

  touch(): void {
    this.lastActiveAt = Date.now();
  }

  /** Whether an exec or a file transfer is running: the instance is in use, whatever its TTL. */
  get busy(): boolean {
    return this.#busy > 0;
  }

  /** Runs `work` as a use of the instance: it is not idle meanwhile. */
  async using<T>(work: () => Promise<T>): Promise<T> {
    this.#busy += 1;
    this.touch();
    try {
      return await work();
    } finally {
      this.#busy -= 1;
      this.touch();
    }
  }

  /** Starts a process; its output goes to the events (and `onOutput`). */
  start(
    command: string[],
    options: StartProcessOptions = {},
    onOutput?: ProcessEntry['onOutput'],
  ): RunningProcess {
    const link = this.#requireRunning();
    // Checked here too, whoever calls: what is refused leaves no process entry behind.
    checkProcessInput({ command, env: options.env, cwd: options.cwd });
    const process = this.#nextProcess++;
    const frame = encodeExec(process, {
      argv: command,
      env: options.env ?? {},
      cwd: options.cwd ?? INSTANCE_WORKDIR,
      ...(options.tty ? { tty: options.tty } : {}),
      ...(options.flow ? { flow: true } : {}),
    });
    let resolve!: (exit: ProcessExit) => void;
    const exited = new Promise<ProcessExit>((r) => {
      resolve = r;
    });
    this.#processes.set(process, {
      command,
      tty: options.tty !== undefined,
      silent: options.silent === true,
      decoders: { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') },
      ...(onOutput ? { onOutput } : {}),
      resolve,
      ...(options.flow ? { stdin: { inFlight: 0, wake: undefined } } : {}),
    });
    this.touch();
    link.send(frame);
    return { process, command, exited };
  }

  /** Runs a command to its end and collects its output (see instance-exec.ts). */
  exec(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.using(() => runToEnd(this, command, options));
  }

  /** Lets a flow-controlled process send `bytes` more of output. */
  grantOutput(process: number, bytes: number): void {
    if (bytes > 0 && this.#processes.has(process)) this.#link?.send(encodeCredit(process, bytes));
  }

  /**
   * Sends stdin to a flow-controlled process no faster than it takes it: at most
   * STDIN_WINDOW_BYTES are on their way. Resolves true when all was sent, false when the process
   * ended first.
   */
  async writeInput(
    process: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<boolean> {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.length; at += STDIN_PIECE_BYTES) {
        const piece = chunk.subarray(at, at + STDIN_PIECE_BYTES);
        const entry = this.#processes.get(process);
        const window = entry?.stdin;
        if (!entry || !window) return false;
        while (window.inFlight > 0 && window.inFlight + piece.length > STDIN_WINDOW_BYTES) {
          await new Promise<void>((resolve) => {
            window.wake = resolve;
          });
          window.wake = undefined;
          if (!this.#processes.has(process)) return false;
        }
        window.inFlight += piece.length;
        this.touch();
        this.#requireRunning().send(encodeFrame(Request.stdin, process, piece));
      }
    }
    return this.#processes.has(process);
  }

  /** Stdin for a process without flow control (a stream client's): the agent drops past 8 MiB. */
  writeStdin(process: number, data: string | Uint8Array): void {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (payload.length === 0) return;
    this.touch();
    for (let at = 0; at < payload.length; at += STDIN_PIECE_BYTES)
      this.#requireRunning().send(
        encodeFrame(Request.stdin, process, payload.subarray(at, at + STDIN_PIECE_BYTES)),
      );
  }

  closeStdin(process: number): void {
    this.#requireRunning().send(encodeFrame(Request.stdin, process));
  }

  signal(process: number, signal: number): void {
    this.#link?.send(encodeFrame(Request.signal, process, Buffer.from([signal])));
  }

  resize(process: number, rows: number, cols: number): void {
    this.#requireRunning().send(encodeResize(process, rows, cols));
  }

  hasProcess(process: number): boolean {
    return this.#processes.has(process);
  }

  /** The running processes as a snapshot keeps them, so its restores know them too. */
  processTable(): SnapshotProcess[] {
    return [...this.#processes]
      .filter(([, entry]) => !entry.silent)
      .map(([process, entry]) => ({
        process,
        ...(entry.pid ? { pid: entry.pid } : {}),
        command: entry.command,
        tty: entry.tty,
        ...(process === this.mainProcess ? { main: true } : {}),
      }));
  }

  /** Takes on the processes of the snapshot this instance was restored from: they run on here. */
  adopt(processes: readonly SnapshotProcess[]): void {
    for (const p of processes) {
      if (this.#processes.has(p.process)) continue;
      this.#processes.set(p.process, {
        command: p.command,
        ...(p.pid ? { pid: p.pid } : {}),
        tty: p.tty,
        silent: false,
        decoders: { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') },
        resolve: () => {},
      });
      if (p.main) this.mainProcess = p.process;
    }
  }

  /** Processes started through this server that have not exited. */
  processes(): Array<{ process: number; pid?: number; command: string; tty: boolean }> {
    return [...this.#processes]
      .filter(([, entry]) => !entry.silent)
      .map(([process, entry]) => ({
        process,
        ...(entry.pid ? { pid: entry.pid } : {}),
        command: commandText(entry.command),
        tty: entry.tty,
      }));
  }

  /** The container stopped: processes are gone, their waiters get 137 (killed). */
  markStopped(state: 'stopped' | 'deleted'): void {
    this.state = state;
    this.reason = undefined;
    this.#endProcesses();
    this.#publish({ type: 'state', state });
  }

  /**
   * The container is not to be trusted or used again (its agent broke the protocol or wedged):
   * processes are gone, waiters get 137, watchers get the reason. The caller kills the container.
   */
  markFailed(reason: string): void {
    if (this.state === 'deleted' || this.state === 'failed') return;
    this.state = 'failed';
    this.reason = reason;
    this.#endProcesses();
    this.#publish({ type: 'state', state: 'failed', reason });
  }

  publishState(): void {
    this.#publish({ type: 'state', state: this.state });
  }

  #endProcesses(): void {
    this.#link = undefined;
    for (const [process, entry] of this.#processes) {
      this.#processes.delete(process);
      entry.stdin?.wake?.();
      entry.resolve({ code: 137, ...(entry.pid ? { pid: entry.pid } : {}) });
    }
  }

  #requireRunning(): AgentLink {
    if (this.state !== 'running' || !this.#link) {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${this.id} is ${this.state}, not running`, {
        details: { state: this.state },
      });
    }
    return this.#link;
  }

  #publish(event: InstanceEvent): void {
    this.events.publish(event);
  }
}

/**
 * A process's command as views show it. Whatever a process entry holds (one a snapshot of an
 * older server kept), this answers a string: one odd entry must never fail every listing of
 * its instance.
 */
function commandText(command: unknown): string {
  return Array.isArray(command) ? command.map(String).join(' ') : String(command);
}

/**
 * A line a process wrote to $FAAS_EVENTS: `{"name": "...", "data": ...}` becomes a custom event;
 * anything else (or nested deeper than MAX_JSON_DEPTH) is passed on whole as
 * `{ name: "line", data: "<the line>" }`.
 */
function customEvent(line: string): InstanceEvent {
  // Too deep to send on as JSON (see MAX_JSON_DEPTH): passed on as text.
  if (jsonNestsDeeperThan(line)) return { type: 'custom', name: 'line', data: line };
  try {
    const parsed = JSON.parse(line) as { name?: unknown; data?: unknown };
    if (parsed && typeof parsed === 'object' && typeof parsed.name === 'string') {
      return { type: 'custom', name: parsed.name, data: parsed.data ?? null };
    }
  } catch {
    // Not JSON: passed on as text.
  }
  return { type: 'custom', name: 'line', data: line };
}
