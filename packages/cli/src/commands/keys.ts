import { API_KEY_ROLES, type ApiKeyRole, SCOPES, type Scope } from '@faas/core';
import type { FaaSClient, KeyChanges, ProjectSettings } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { ago, type Output, print, table } from '../output.ts';

export interface CreateKeyFlags {
  role?: string;
  project?: string;
  scopes?: string;
  functions?: string;
  expiresAt?: string;
  rateLimit?: string;
}

export async function createKey(
  client: FaaSClient,
  out: Output,
  name: string,
  flags: CreateKeyFlags = {},
): Promise<void> {
  const role = (flags.role ?? 'developer') as ApiKeyRole;
  if (!API_KEY_ROLES.includes(role))
    throw new CliError(`--role is one of ${API_KEY_ROLES.join(', ')}`, EXIT.USAGE);
  const scopes = flags.scopes?.split(',').map((s) => s.trim()) as Scope[] | undefined;
  const unknown = scopes?.filter((s) => !SCOPES.includes(s));
  if (unknown?.length) throw new CliError(`Unknown scopes: ${unknown.join(', ')}`, EXIT.USAGE);
  const k = await client.createKey(name, role, {
    ...(flags.project ? { project: flags.project } : {}),
    ...(scopes ? { scopes } : {}),
    ...(flags.functions ? { functions: flags.functions.split(',').map((f) => f.trim()) } : {}),
    ...(flags.expiresAt ? { expiresAt: flags.expiresAt } : {}),
    ...(flags.rateLimit ? { rateLimit: parseRateLimit(flags.rateLimit) ?? undefined } : {}),
  });
  print(
    out,
    k,
    () =>
      `Created ${k.role} key ${k.id} (${k.name}) in project ${k.project}. It is shown only now:\n\n  ${k.key}\n`,
  );
}

export async function listKeys(client: FaaSClient, out: Output): Promise<void> {
  const keys = await client.listKeys();
  print(out, keys, () =>
    table(
      ['ID', 'NAME', 'PROJECT', 'ROLE', 'PREFIX', 'CREATED'],
      keys.map((k) => [k.id, k.name, k.project, k.role, `${k.prefix}…`, ago(k.createdAt)]),
    ),
  );
}

/**
 * `faas keys set <id> [--name n] [--rate-limit 10/20|none] [--expires-at t|none]`: changes a key
 * of the caller's project (its role and scopes never change).
 */
export async function setKey(
  client: FaaSClient,
  out: Output,
  id: string,
  flags: { name?: string; rateLimit?: string; expiresAt?: string },
): Promise<void> {
  const changes: KeyChanges = {};
  if (flags.name !== undefined) changes.name = flags.name;
  if (flags.rateLimit !== undefined) changes.rateLimit = parseRateLimit(flags.rateLimit);
  if (flags.expiresAt !== undefined) changes.expiresAt = flags.expiresAt === 'none' ? null : flags.expiresAt;
  if (Object.keys(changes).length === 0)
    throw new CliError('Nothing to change: give --name, --rate-limit or --expires-at', EXIT.USAGE);
  const k = await client.updateKey(id, changes);
  const limit = k.rateLimit ? `${k.rateLimit.requestsPerSecond}/s, burst ${k.rateLimit.burst}` : 'none';
  print(out, k, () => `Key ${k.id} (${k.name}): rate limit ${limit}, expires ${k.expiresAt ?? 'never'}`);
}

/** `10/20`: 10 requests/s with a burst of 20; `10`: a burst of 10; `none`: no limit (null). */
function parseRateLimit(text: string): { requestsPerSecond: number; burst: number } | null {
  if (text === 'none') return null;
  const match = /^(\d+(?:\.\d+)?)(?:\/(\d+))?$/.exec(text);
  if (!match) throw new CliError('--rate-limit is <requests/s>[/<burst>] or "none", e.g. 10/20', EXIT.USAGE);
  const requestsPerSecond = Number(match[1]);
  return {
    requestsPerSecond,
    burst: match[2] === undefined ? Math.max(1, Math.ceil(requestsPerSecond)) : Number(match[2]),
  };
}

export async function revokeKey(client: FaaSClient, out: Output, id: string): Promise<void> {
  await client.revokeKey(id);
  print(out, { revoked: id }, () => `Revoked ${id}`);
}

export async function createProject(client: FaaSClient, out: Output, name: string): Promise<void> {
  const p = await client.createProject(name);
  print(out, p, () => `Created project ${p.name}`);
}

export async function listProjects(client: FaaSClient, out: Output): Promise<void> {
  const projects = await client.listProjects();
  print(out, projects, () =>
    table(
      ['NAME', 'HOST', 'CREATED'],
      projects.map((p) => [p.name, p.host ?? '-', ago(p.createdAt)]),
    ),
  );
}

/** The `faas projects set` flag of each quota. */
const QUOTA_FLAGS = {
  maxFunctions: 'functions',
  maxConcurrency: 'concurrentInvocations',
  maxQueued: 'queuedInvocations',
  maxInstances: 'instances',
  maxSnapshotBytes: 'snapshotStorageBytes',
} as const;

/**
 * `faas projects set <name> [--host h | --no-host] [--max-functions n|none] …`: a platform admin
 * changes a project.
 */
export async function setProject(
  client: FaaSClient,
  out: Output,
  name: string,
  options: { host?: string | boolean } & { [K in keyof typeof QUOTA_FLAGS]?: string },
): Promise<void> {
  const settings: ProjectSettings = {};
  // commander: `--host h` gives the string, `--no-host` false.
  if (typeof options.host === 'string') settings.host = options.host;
  else if (options.host === false) settings.host = null;
  const quotas: NonNullable<ProjectSettings['quotas']> = {};
  for (const [flag, quota] of Object.entries(QUOTA_FLAGS)) {
    const value = options[flag as keyof typeof QUOTA_FLAGS];
    if (value === undefined) continue;
    if (value === 'none') quotas[quota] = null;
    else if (/^\d+$/.test(value)) quotas[quota] = Number(value);
    else
      throw new CliError(
        `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} takes a whole number or "none"`,
        EXIT.USAGE,
      );
  }
  if (Object.keys(quotas).length > 0) settings.quotas = quotas;
  const p = await client.updateProject(name, settings);
  print(
    out,
    p,
    () => `Project ${p.name}: host ${p.host ?? '(none)'}, quotas ${JSON.stringify(p.quotas ?? {})}`,
  );
}
