import type { FaaSClient } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { readLocalFile, readStdin } from '../input.ts';
import { LIMIT_HINT, serverLimits } from '../limits.ts';
import { duration, type Output } from '../output.ts';

export interface InvokeFlags {
  file?: string;
  async?: boolean;
  wait?: boolean;
  idempotencyKey?: string;
}

/** `faas invoke name[:version] [data]`: data from the argument, --file, or stdin (`-` or piped). */
export async function invoke(
  client: FaaSClient,
  out: Output,
  ref: string,
  data: string | undefined,
  flags: InvokeFlags,
): Promise<number> {
  const [name, versionText] = ref.split(':');
  const version = versionText === undefined ? undefined : Number(versionText);
  if (!name || (version !== undefined && (!Number.isInteger(version) || version < 1))) {
    throw new CliError(`Expected name or name:version, got "${ref}"`, EXIT.USAGE);
  }
  if (flags.idempotencyKey && !flags.async) {
    // The server keeps no key for a sync invoke: a retry with it would run the function again.
    throw new CliError('--idempotency-key needs --async (a sync invoke keeps no key)', EXIT.USAGE);
  }
  const event = parseEvent(await readData(data, flags.file));
  const options = {
    ...(version ? { version } : {}),
    ...(flags.idempotencyKey ? { idempotencyKey: flags.idempotencyKey } : {}),
  };
  if (flags.async) {
    const { invocationId, duplicate } = await client.invokeAsync(name, event, options);
    if (!flags.wait) {
      process.stdout.write(
        out.json
          ? `${JSON.stringify({ invocationId, duplicate })}\n`
          : `${invocationId}${duplicate ? ' (duplicate)' : ''}\n`,
      );
      return EXIT.OK;
    }
    process.stderr.write(`invocation ${invocationId}: waiting…\n`);
    const inv = await client.wait(invocationId, { timeoutMs: 15 * 60_000 });
    if (out.json) process.stdout.write(`${JSON.stringify(inv, null, 2)}\n`);
    else if (inv.status === 'succeeded') process.stdout.write(`${JSON.stringify(inv.result, null, 2)}\n`);
    else process.stderr.write(`${inv.status}: ${inv.error?.message ?? ''}\n`);
    return inv.status === 'succeeded' ? EXIT.OK : EXIT.FUNCTION_FAILED;
  }
  const res = await client.invoke(name, event, options);
  process.stderr.write(`invocation ${res.invocationId} (v${res.version}, ${duration(res.durationMs)})\n`);
  // Bytes go out as they are, for a pipe or a file.
  if (res.result instanceof Uint8Array) process.stdout.write(res.result);
  else process.stdout.write(`${JSON.stringify(res.result, null, out.json ? undefined : 2)}\n`);
  return EXIT.OK;
}

async function readData(data: string | undefined, file: string | undefined): Promise<string | undefined> {
  if (file) return readLocalFile(file, serverLimits().bodyBytes, LIMIT_HINT).toString('utf8');
  if (data === '-' || (data === undefined && !process.stdin.isTTY)) {
    const text = await readStdin();
    return text.length > 0 ? text : undefined;
  }
  return data;
}

/** JSON when it parses, otherwise the text as a string event. */
function parseEvent(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
