import { API_KEY_ROLES, type ApiKeyRole, SCOPES, type Scope } from '@faas/core';
import type { FaaSClient, ProjectSettings } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { ago, type Output, print, table } from '../output.ts';

export interface CreateKeyFlags {
  role?: string;
  project?: string;
  scopes?: string;
  functions?: string;
  expiresAt?: string;
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
