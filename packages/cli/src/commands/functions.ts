import { createInterface } from 'node:readline/promises';
import type { FunctionRecord } from '@faas/core';
import type { FaaSClient } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { ago, type Output, print, table } from '../output.ts';

export async function list(client: FaaSClient, out: Output): Promise<void> {
  const all: FunctionRecord[] = [];
  for await (const fn of client.functions()) all.push(fn);
  print(out, all, () =>
    all.length === 0
      ? 'No functions yet: faas deploy <folder or file>'
      : table(
          ['NAME', 'RUNTIME', 'VERSION', 'ROUTES', 'UPDATED'],
          all.map((f) => [
            f.name,
            f.latest.runtime,
            f.latestVersion,
            f.latest.routes.map((r) => `${r.method} ${r.path}`).join(', ') || '-',
            ago(f.updatedAt),
          ]),
        ),
  );
}

export async function get(client: FaaSClient, out: Output, name: string): Promise<void> {
  const f = await client.getFunction(name);
  const v = f.latest;
  print(out, f, () =>
    [
      `${f.name} v${f.latestVersion}${v.description ? ` — ${v.description}` : ''}`,
      table(
        ['FIELD', 'VALUE'],
        [
          ['runtime', v.runtime],
          ['handler', v.handler],
          ['timeout', `${v.timeoutMs} ms`],
          ['memory', `${v.memoryMb} MB`],
          ['max concurrency', v.maxConcurrency],
          ['max retries', v.maxRetries],
          ['routes', v.routes.map((r) => `${r.method} ${r.path}`).join('\n') || '-'],
          ['env', Object.keys(v.env).join(', ') || '-'],
          ['code', `${v.codeSizeBytes} bytes, sha256:${v.codeSha256}`],
          ['updated', `${f.updatedAt} (${ago(f.updatedAt)})`],
        ],
      ),
    ].join('\n'),
  );
}

export async function remove(client: FaaSClient, out: Output, name: string, yes: boolean): Promise<void> {
  if (!yes && process.stdin.isTTY && process.stderr.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`Delete function ${name} and all its versions? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('Not deleted', EXIT.USAGE);
  }
  await client.deleteFunction(name);
  print(out, { deleted: name }, () => `Deleted ${name}`);
}

export async function versions(client: FaaSClient, out: Output, name: string): Promise<void> {
  const page = await client.listVersions(name, { limit: 100 });
  print(out, page.items, () =>
    table(
      ['VERSION', 'RUNTIME', 'HANDLER', 'CODE', 'CREATED'],
      page.items.map((v) => [
        v.version,
        v.runtime,
        v.handler,
        `sha256:${v.codeSha256.slice(0, 12)}`,
        ago(v.createdAt),
      ]),
    ),
  );
}
