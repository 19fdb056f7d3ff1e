import type { StoredLogLine } from '@faas/core';
import type { FaaSClient } from '@faas/sdk';
import { ago, type Output, print, table } from '../output.ts';

const FOLLOW_INTERVAL_MS = 500;

/** `faas logs name [-f]`: the function's log lines; `-f` keeps polling for new ones until Ctrl-C. */
export async function logs(
  client: FaaSClient,
  out: Output,
  name: string,
  flags: { follow?: boolean; invocation?: string },
): Promise<void> {
  if (flags.invocation) {
    const inv = await client.getInvocation(flags.invocation);
    for (const l of inv.logs)
      write(out, { ...l, invocationId: inv.id, functionName: inv.functionName, seq: 0 });
    return;
  }
  await client.getFunction(name); // a typo should be a 404, not an empty stream
  let afterSeq = 0;
  for (;;) {
    const page = await client.tailLogs({ functionName: name, afterSeq, limit: 500 });
    for (const line of page.items) write(out, line);
    afterSeq = page.nextSeq;
    if (page.items.length === 500) continue;
    if (!flags.follow) return;
    await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
  }
}

function write(out: Output, l: StoredLogLine): void {
  if (out.json) process.stdout.write(`${JSON.stringify(l)}\n`);
  else
    process.stdout.write(
      `${new Date(l.ts).toISOString()} ${l.invocationId} ${l.level.toUpperCase().padEnd(5)} ${l.message}\n`,
    );
}

export async function invocations(
  client: FaaSClient,
  out: Output,
  name: string | undefined,
  flags: { status?: string; limit?: string },
): Promise<void> {
  const page = await client.listInvocations({
    ...(name ? { functionName: name } : {}),
    ...(flags.status ? { status: flags.status } : {}),
    limit: Number(flags.limit ?? 20),
  });
  print(out, page.items, () =>
    table(
      ['ID', 'FUNCTION', 'VERSION', 'MODE', 'STATUS', 'ATTEMPTS', 'DURATION', 'CREATED'],
      page.items.map((i) => [
        i.id,
        i.functionName,
        i.version,
        i.mode,
        i.status,
        i.attempts,
        i.durationMs === undefined ? '-' : `${i.durationMs} ms`,
        ago(i.createdAt),
      ]),
    ),
  );
}
