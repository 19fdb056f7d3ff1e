import { DEPENDENCY_CACHE_NAMES } from '@faas/core';
import type { CreateInstanceRequest, FaaSClient, InstanceView } from '@faas/sdk';
import { commandOf, envPairs, int, num, oneOf, readStdin } from '../input.ts';
import { ago, clip, type Output, print, table } from '../output.ts';
import { writeRun } from './exec.ts';

export interface CreateFlags {
  image?: string;
  command?: string;
  env?: string[];
  memory?: string;
  cpus?: string;
  disk?: string;
  network?: boolean;
  isolation?: string;
  idleTtl?: string;
  cache?: string[];
}

export interface InstanceExecFlags {
  env?: string[];
  cwd?: string;
  timeout?: string;
  stdin?: boolean;
}

export async function list(client: FaaSClient, out: Output): Promise<void> {
  const all = await client.sandboxes.listInstances();
  print(out, all, () =>
    all.length === 0
      ? 'No instances: faas instances create'
      : table(
          ['ID', 'STATUS', 'ISOLATION', 'IMAGE', 'COMMAND', 'PROCESSES', 'CREATED', 'ACTIVE'],
          all.map((i) => [
            i.id,
            i.status,
            i.isolation,
            i.image,
            clip(i.command?.join(' ') ?? '-'),
            i.processes.length,
            ago(i.created_at),
            ago(i.last_active_at),
          ]),
        ),
  );
}

/** Prints the new instance's id alone, for `id=$(faas instances create)`. */
export async function create(client: FaaSClient, out: Output, flags: CreateFlags): Promise<void> {
  const request: CreateInstanceRequest = {
    ...(flags.image ? { image: flags.image } : {}),
    ...(flags.command ? { command: flags.command } : {}),
    ...(flags.env?.length ? { env: envPairs(flags.env) } : {}),
    ...(flags.memory ? { memory_mb: int(flags.memory, '--memory') } : {}),
    ...(flags.cpus ? { cpus: num(flags.cpus, '--cpus') } : {}),
    ...(flags.disk ? { disk_mb: int(flags.disk, '--disk') } : {}),
    ...(flags.network ? { network: true } : {}),
    ...(flags.isolation ? { isolation: oneOf(flags.isolation, ['runc', 'gvisor'], '--isolation') } : {}),
    ...(flags.idleTtl ? { idle_ttl_ms: int(flags.idleTtl, '--idle-ttl') } : {}),
    ...(flags.cache?.length
      ? { dependency_caches: flags.cache.map((c) => oneOf(c, DEPENDENCY_CACHE_NAMES, '--cache')) }
      : {}),
  };
  const instance = await client.sandboxes.createInstance(request);
  print(out, instance, () => instance.id);
}

export async function get(client: FaaSClient, out: Output, id: string): Promise<void> {
  const i = await client.sandboxes.getInstance(id);
  print(out, i, () => describe(i));
}

/** `faas instances exec <id> <command...>`: resolves to the command's exit code. */
export async function execIn(
  client: FaaSClient,
  out: Output,
  id: string,
  words: string[],
  flags: InstanceExecFlags,
): Promise<number> {
  const result = await client.sandboxes.exec(id, commandOf(words), {
    ...(flags.env?.length ? { env: envPairs(flags.env) } : {}),
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
    ...(flags.timeout ? { timeout_ms: int(flags.timeout, '--timeout') } : {}),
    ...(flags.stdin ? { stdin: await readStdin() } : {}),
  });
  writeRun(out, result);
  return result.exit_code;
}

export async function stop(client: FaaSClient, out: Output, id: string): Promise<void> {
  const i = await client.sandboxes.stopInstance(id);
  print(out, i, () => `Stopped ${i.id}`);
}

export async function start(client: FaaSClient, out: Output, id: string): Promise<void> {
  const i = await client.sandboxes.startInstance(id);
  print(out, i, () => `Started ${i.id}`);
}

export async function remove(client: FaaSClient, out: Output, ids: string[]): Promise<void> {
  for (const id of ids) await client.sandboxes.deleteInstance(id);
  print(out, { deleted: ids }, () => ids.map((id) => `Deleted ${id}`).join('\n'));
}

function describe(i: InstanceView): string {
  return [
    `${i.id} ${i.status}${i.reason ? `: ${i.reason}` : ''}`,
    table(
      ['FIELD', 'VALUE'],
      [
        ['image', i.image],
        ['command', i.command?.join(' ') ?? '- (waits for exec)'],
        ['isolation', i.isolation],
        ['limits', `${i.memory_mb} MB memory, ${i.cpus} cpus, ${i.pids_limit} pids, ${i.disk_mb} MB disk`],
        ['network', i.network ? 'on' : 'off'],
        ['idle stop', i.idle_ttl_ms === 0 ? 'never' : `after ${i.idle_ttl_ms} ms`],
        ['env', i.env.join(', ') || '-'],
        ['caches', i.dependency_caches.join(', ') || '-'],
        ['processes', i.processes.map((p) => `${p.process}: ${p.command}`).join('\n') || '-'],
        ['watchers', i.watchers],
        ['created', `${i.created_at} (${ago(i.created_at)})`],
        ['last active', `${i.last_active_at} (${ago(i.last_active_at)})`],
      ],
    ),
  ].join('\n');
}
