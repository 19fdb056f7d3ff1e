import { createHash } from 'node:crypto';
import type { StoredLogLine } from '@faas/core';
import type { FaaSClient, WindowStats } from '@faas/sdk';
import { ago, duration, type Output, print, table } from '../output.ts';

const PAGE = 500;

/**
 * `faas logs name [-f]`: the function's log lines; `-f` then follows the function live over the
 * server's event stream (GET /api/v1/logs/stream) until Ctrl-C. A failed invocation's lines end
 * with the server's `[faas] <status>: …` line, so failures that printed nothing show too.
 */
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
  if (!flags.follow) {
    await printStored(client, out, name);
    return;
  }
  // The stream is opened first, then what is stored is printed: an invocation that finishes in
  // between is in both, and its lines are printed once (by the stored lines). Only such copies
  // are dropped, line by line: another attempt of a stored invocation (an async retry) is new.
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  let opened = () => {};
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const live = client.followLogs(name, { signal: stop.signal, onOpen: () => opened() });
  const first = live.next();
  await Promise.race([open, first]); // a refusal (401, 404) rejects here
  const printed = await printStored(client, out, name);
  for (let next = await first; !next.done; next = await live.next()) {
    const event = next.value;
    if (event.type === 'gap') {
      process.stderr.write(`faas: some lines were missed while reconnecting (${event.reason})\n`);
    } else if (event.type !== 'log' || !printed.take(event)) {
      if (out.json) process.stdout.write(`${JSON.stringify(event)}\n`);
      else if (event.type === 'log')
        write(out, { ...event, level: event.level as StoredLogLine['level'], seq: 0 });
    }
  }
}

/** Prints every stored line of the function; answers them, to tell their live copies. */
async function printStored(client: FaaSClient, out: Output, name: string): Promise<PrintedLines> {
  const printed = new PrintedLines();
  let afterSeq = 0;
  for (;;) {
    const page = await client.tailLogs({ functionName: name, afterSeq, limit: PAGE });
    for (const line of page.items) {
      printed.add(line);
      write(out, line);
    }
    afterSeq = page.nextSeq;
    if (page.items.length < PAGE) return printed;
  }
}

type LineFields = Pick<StoredLogLine, 'invocationId' | 'ts' | 'message'> & { level: string };

/**
 * Stored lines, counted by everything a live `log` event carries (it has no seq or attempt): a
 * live line matching one is its copy, and uses it up, so a line printed twice by the function is
 * still printed twice. Kept as digests: a function's stored lines can be many megabytes.
 */
class PrintedLines {
  #counts = new Map<string, number>();

  add(line: LineFields): void {
    const key = PrintedLines.#key(line);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Whether `line` was printed (as a stored line not matched yet); it is then matched. */
  take(line: LineFields): boolean {
    const key = PrintedLines.#key(line);
    const count = this.#counts.get(key);
    if (!count) return false;
    if (count === 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
    return true;
  }

  static #key(line: LineFields): string {
    return createHash('sha1')
      .update(JSON.stringify([line.invocationId, line.ts, line.level, line.message]))
      .digest('base64');
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
      ['ID', 'FUNCTION', 'VERSION', 'MODE', 'STATUS', 'ATTEMPTS', 'DURATION', 'CREATED', 'TRACE'],
      page.items.map((i) => [
        i.id,
        i.functionName,
        i.version,
        i.mode,
        i.status,
        i.attempts,
        duration(i.durationMs),
        ago(i.createdAt),
        i.traceId ?? '-',
      ]),
    ),
  );
}

/** `faas invocations get <id>`: one invocation with its result or error, stack and logs. */
export async function invocation(client: FaaSClient, out: Output, id: string): Promise<void> {
  const inv = await client.getInvocation(id);
  print(out, inv, () => {
    const rows: Array<[string, string | number]> = [
      ['function', `${inv.functionName} v${inv.version}`],
      ['status', inv.status],
      ['mode', `${inv.mode} (${inv.trigger})`],
      ['attempts', inv.attempts],
      ['created', `${inv.createdAt} (${ago(inv.createdAt)})`],
      ['duration', duration(inv.durationMs)],
    ];
    if (inv.cpuTimeMs !== undefined) rows.push(['cpu time', duration(inv.cpuTimeMs)]);
    if (inv.coldStart !== undefined) rows.push(['cold start', inv.coldStart ? 'yes' : 'no']);
    if (inv.idempotencyKey !== undefined) rows.push(['idempotency key', inv.idempotencyKey]);
    if (inv.traceId !== undefined) rows.push(['trace id', inv.traceId]);
    const parts = [inv.id, table(['FIELD', 'VALUE'], rows)];
    if (inv.error) {
      parts.push(`error: ${inv.error.type}: ${inv.error.message}`);
      if (inv.error.stack) parts.push(inv.error.stack);
    } else if (inv.result !== undefined) {
      parts.push(`result: ${JSON.stringify(inv.result, null, 2)}`);
    }
    parts.push(
      inv.logs.length === 0
        ? 'logs: none'
        : `logs:\n${inv.logs.map((l) => `${new Date(l.ts).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.message}`).join('\n')}`,
    );
    return parts.join('\n');
  });
}

/** `faas stats`: per function, calls, errors, cold starts and p50/p99 over the last minute, hour and day. */
export async function stats(client: FaaSClient, out: Output): Promise<void> {
  const answer = await client.stats();
  const cell = (w: WindowStats | undefined) =>
    w ? `${w.calls} / ${w.errors} / ${w.coldStarts} / ${duration(w.p50Ms)} / ${duration(w.p99Ms)}` : '-';
  print(out, answer, () =>
    answer.items.length === 0
      ? 'no invocations in the last day'
      : `${table(
          ['FUNCTION', 'LAST MINUTE', 'LAST HOUR', 'LAST DAY'],
          answer.items.map((f) => [f.functionName, cell(f.minute), cell(f.hour), cell(f.day)]),
        )}\n(calls / errors / cold starts / p50 / p99)`,
  );
}
