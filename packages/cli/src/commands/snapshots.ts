import type { FaaSClient, SnapshotView } from '@faas/sdk';
import { int } from '../input.ts';
import { ago, bytes, type Output, print, table } from '../output.ts';

export async function list(
  client: FaaSClient,
  out: Output,
  flags: { instance?: string; limit?: string },
): Promise<void> {
  const page = await client.sandboxes.listSnapshots({
    ...(flags.instance ? { instance_id: flags.instance } : {}),
    limit: flags.limit ? int(flags.limit, '--limit') : 50,
  });
  print(out, page.items, () =>
    page.items.length === 0
      ? 'No snapshots: faas snapshots create <instance-id>'
      : table(
          ['ID', 'NAME', 'INSTANCE', 'KIND', 'ISOLATION', 'SIZE', 'CREATED'],
          page.items.map((s) => [
            s.id,
            s.name ?? '-',
            s.instance_id,
            s.kind,
            s.isolation,
            bytes(s.size_bytes),
            ago(s.created_at),
          ]),
        ),
  );
}

/** Prints the snapshot's id alone, for `snap=$(faas snapshots create "$id")`. */
export async function create(
  client: FaaSClient,
  out: Output,
  instanceId: string,
  flags: { name?: string },
): Promise<void> {
  const snapshot = await client.sandboxes.createSnapshot(instanceId, flags.name);
  print(out, snapshot, () => snapshot.id);
}

export async function get(client: FaaSClient, out: Output, id: string): Promise<void> {
  const s = await client.sandboxes.getSnapshot(id);
  print(out, s, () => describe(s));
}

export async function remove(client: FaaSClient, out: Output, ids: string[]): Promise<void> {
  for (const id of ids) await client.sandboxes.deleteSnapshot(id);
  print(out, { deleted: ids }, () => ids.map((id) => `Deleted ${id}`).join('\n'));
}

/** Prints the new instance's id. */
export async function restore(client: FaaSClient, out: Output, id: string): Promise<void> {
  const instance = await client.sandboxes.restoreSnapshot(id);
  print(out, instance, () => instance.id);
}

/** Prints the new instances' ids, one a line. */
export async function fork(
  client: FaaSClient,
  out: Output,
  id: string,
  flags: { count?: string },
): Promise<void> {
  const instances = await client.sandboxes.forkSnapshot(id, flags.count ? int(flags.count, '--count') : 2);
  print(out, instances, () => instances.map((i) => i.id).join('\n'));
}

function describe(s: SnapshotView): string {
  return [
    `${s.id}${s.name ? ` (${s.name})` : ''}`,
    table(
      ['FIELD', 'VALUE'],
      [
        ['kind', s.kind === 'memory' ? 'memory (processes continue)' : 'filesystem (/workspace)'],
        ['instance', s.instance_id],
        ['execution', s.execution_id ?? '-'],
        ['image', s.image],
        ['isolation', s.isolation],
        ['size', bytes(s.size_bytes)],
        ['created', `${s.created_at} (${ago(s.created_at)})`],
      ],
    ),
  ].join('\n');
}
