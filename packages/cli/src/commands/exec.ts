import type { ExecuteExit, ExecuteMode, ExecuteRequest, FaaSClient } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { commandOf, envPairs, int, oneOf, readStdin } from '../input.ts';
import { type Output, print } from '../output.ts';

export interface ExecFlags {
  image?: string;
  env?: string[];
  timeout?: string;
  memory?: string;
  network?: boolean;
  stdin?: boolean;
  mode?: string;
  isolation?: string;
  checkpoint?: string;
  parent?: string;
  stream?: boolean;
}

const MODES: readonly ExecuteMode[] = ['ephemeral', 'cached', 'checkpointed', 'branched', 'persistent'];

/**
 * `faas exec <command...>`: runs the command in a fresh sandbox and resolves to its exit code, so
 * that `faas exec` stands in for the command in scripts. `persistent` starts an instance instead.
 */
export async function exec(
  client: FaaSClient,
  out: Output,
  words: string[],
  flags: ExecFlags,
): Promise<number> {
  const request = await executeRequest(words, flags);
  const mode = flags.mode === undefined ? undefined : oneOf(flags.mode, MODES, '--mode');
  if (mode === 'persistent') {
    if (flags.stream)
      throw new CliError('--stream shows a run: persistent mode starts an instance', EXIT.USAGE);
    const started = await client.sandboxes.executeAdvanced({ ...request, mode });
    print(out, started, () => started.instance_id);
    return EXIT.OK;
  }
  const advanced =
    mode === undefined && !flags.isolation && !flags.checkpoint && !flags.parent
      ? undefined
      : {
          mode: mode ?? 'ephemeral',
          ...(flags.isolation
            ? { isolation: oneOf(flags.isolation, ['runc', 'gvisor'], '--isolation') }
            : {}),
          ...(flags.checkpoint ? { checkpoint: flags.checkpoint } : {}),
          ...(flags.parent ? { parent: flags.parent } : {}),
        };
  if (flags.stream) {
    const exit = await client.sandboxes.executeStream({ ...request, ...advanced }, (event) => {
      if (out.json) process.stdout.write(`${JSON.stringify(event)}\n`);
      else if (event.type === 'stdout') process.stdout.write(event.data);
      else if (event.type === 'stderr') process.stderr.write(event.data);
    });
    if (!out.json) writeNotes(exit);
    return exit.exit_code;
  }
  const result = advanced
    ? await client.sandboxes.executeAdvanced({ ...request, ...advanced })
    : await client.sandboxes.execute(request);
  writeRun(out, result);
  return result.exit_code;
}

/** A finished run: its output as it was (stdout, stderr), or the whole result with --json. */
export function writeRun(
  out: Output,
  result: { stdout: string; stderr: string; exit_code: number; timed_out: boolean; truncated: boolean },
): void {
  if (out.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  writeNotes(result);
}

/** What the output alone does not say, on stderr: why it ended, and what a mode made. */
function writeNotes(result: Partial<ExecuteExit> & { exit_code: number }): void {
  const notes = [
    result.timed_out ? `timed out (exit ${result.exit_code})` : '',
    result.oom_killed ? `killed: out of memory (exit ${result.exit_code})` : '',
    result.truncated ? 'output truncated at 10 MiB' : '',
    result.cache ? `cache ${result.cache}` : '',
    result.execution_id ? `execution ${result.execution_id}` : '',
    result.snapshot_id ? `snapshot ${result.snapshot_id}` : '',
  ].filter(Boolean);
  if (notes.length > 0) process.stderr.write(`faas: ${notes.join(', ')}\n`);
}

async function executeRequest(words: string[], flags: ExecFlags): Promise<ExecuteRequest> {
  return {
    command: commandOf(words),
    ...(flags.image ? { image: flags.image } : {}),
    ...(flags.env?.length ? { env: envPairs(flags.env) } : {}),
    ...(flags.timeout ? { timeout_ms: int(flags.timeout, '--timeout') } : {}),
    ...(flags.memory ? { memory_mb: int(flags.memory, '--memory') } : {}),
    ...(flags.network ? { network: true } : {}),
    ...(flags.stdin ? { stdin: await readStdin() } : {}),
  };
}
