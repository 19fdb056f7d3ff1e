import type { ProcessExit, ProcessHost, RunningProcess, StartProcessOptions } from './instance-process.ts';

export interface ExecOptions extends StartProcessOptions {
  stdin?: string | Uint8Array;
  /** @default 60000 */
  timeoutMs?: number;
  /** stdout + stderr kept; the rest is dropped and `truncated` set. @default 10 MiB */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /**
   * Each piece of kept output as it arrives (past `maxOutputBytes`, none). A promise returned
   * holds the agent's output back until it resolves: a slow reader slows the command down.
   */
  onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void | Promise<void>;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  pid: number | undefined;
  durationMs: number;
  timedOut: boolean;
  truncated: boolean;
}

/** Output of an exec the agent may send ahead of the server. */
const EXEC_OUTPUT_WINDOW_BYTES = 1024 * 1024;
/**
 * After a kill at a deadline the agent has this long to report the exit (or at least answer a
 * ping); past it the agent is taken as wedged and the container is killed.
 */
export const KILL_GRACE_MS = 3000;

/**
 * Runs a command in the instance to its end and collects its output. The deadline is the
 * server's (`awaitExit`): the answer is a timeout at it, never a wait on the agent.
 */
export async function runToEnd(
  instance: ProcessHost,
  command: string[],
  options: ExecOptions,
): Promise<ExecResult> {
  const maxOutput = options.maxOutputBytes ?? 10 * 1024 * 1024;
  const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  let kept = 0;
  let truncated = false;
  const started = performance.now();
  const running = instance.start(command, { ...options, flow: true }, (stream, data) => {
    const grant = () => instance.grantOutput(running.process, data.length);
    const room = maxOutput - kept;
    if (data.length > room) truncated = true;
    // Output past the cap is credited back at once: an exec is drained, kept or not.
    if (room <= 0) return grant();
    const piece = data.length > room ? data.subarray(0, room) : data;
    output[stream].push(Buffer.from(piece));
    kept += piece.length;
    // Only what is kept goes on: past the cap a streaming caller gets no more than the result.
    const taken = options.onOutput?.(stream, piece);
    if (taken) void taken.then(grant, grant);
    else grant();
  });
  instance.grantOutput(running.process, EXEC_OUTPUT_WINDOW_BYTES);
  const stdin = options.stdin ?? '';
  void instance
    .writeInput(running.process, [typeof stdin === 'string' ? Buffer.from(stdin) : stdin])
    .then((open) => open && instance.closeStdin(running.process))
    .catch(() => {});
  const exit = await awaitExit(instance, running, options.timeoutMs ?? 60_000, options.signal);
  return {
    stdout: Buffer.concat(output.stdout),
    stderr: Buffer.concat(output.stderr),
    exitCode: exit.code,
    pid: exit.pid,
    durationMs: performance.now() - started,
    timedOut: exit.timedOut,
    truncated,
  };
}

/**
 * The process's exit, on the server's clock: at `timeoutMs` (or an abort) it is killed; if
 * the agent then neither reports the exit nor answers a ping within KILL_GRACE_MS, it is taken
 * as wedged (its link fails: the container is killed, the instance fails) and the answer is
 * 137 anyway.
 */
export async function awaitExit(
  instance: ProcessHost,
  running: RunningProcess,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProcessExit & { timedOut: boolean }> {
  let timedOut = false;
  let giveUp: (exit: ProcessExit) => void = () => {};
  const givenUp = new Promise<ProcessExit>((resolve) => {
    giveUp = resolve;
  });
  let grace: NodeJS.Timeout | undefined;
  const kill = () => {
    if (grace) return;
    instance.signal(running.process, 9);
    grace = awaitKill(instance, running.process, giveUp);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  signal?.addEventListener('abort', kill, { once: true });
  if (signal?.aborted) kill();
  try {
    return { ...(await Promise.race([running.exited, givenUp])), timedOut };
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    signal?.removeEventListener('abort', kill);
  }
}

/**
 * After a kill: the exit normally follows within the agent's grace. If it does not, the waiter
 * is answered anyway, and an agent that does not answer a ping either is failed.
 */
function awaitKill(
  instance: ProcessHost,
  process: number,
  giveUp: (exit: ProcessExit) => void,
): NodeJS.Timeout {
  const link = instance.link;
  let answered = false;
  link?.ping(KILL_GRACE_MS).then(
    () => {
      answered = true;
    },
    () => {},
  );
  return setTimeout(() => {
    if (!instance.hasProcess(process)) return;
    if (!answered && link && instance.link === link) {
      link.fail(`the sandbox agent answered nothing for ${KILL_GRACE_MS} ms after a kill`);
    }
    giveUp({ code: 137 });
  }, KILL_GRACE_MS);
}
