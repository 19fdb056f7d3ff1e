import type { FaaSClient } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { ago, type Output, print, table } from '../output.ts';

export async function createKey(client: FaaSClient, out: Output, name: string, role = 'user'): Promise<void> {
  if (role !== 'user' && role !== 'admin') throw new CliError('--role is user or admin', EXIT.USAGE);
  const k = await client.createKey(name, role);
  print(out, k, () => `Created ${k.role} key ${k.id} (${k.name}). It is shown only now:\n\n  ${k.key}\n`);
}

export async function listKeys(client: FaaSClient, out: Output): Promise<void> {
  const keys = await client.listKeys();
  print(out, keys, () =>
    table(
      ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED'],
      keys.map((k) => [k.id, k.name, k.role, `${k.prefix}…`, ago(k.createdAt)]),
    ),
  );
}

export async function revokeKey(client: FaaSClient, out: Output, id: string): Promise<void> {
  await client.revokeKey(id);
  print(out, { revoked: id }, () => `Revoked ${id}`);
}
