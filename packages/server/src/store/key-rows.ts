import { type ApiKeyChanges, type ApiKeyRecord, DEFAULT_PROJECT } from '@faas/core';

/** An `api_keys` row, as both stores keep it. */
export interface ApiKeyRow {
  id: string;
  name: string;
  role: ApiKeyRecord['role'];
  prefix: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  project: string | null;
  scopes: string | null;
  functions: string | null;
  expires_at: string | null;
  rate_limit: string | null;
}

export const API_KEY_COLUMNS =
  'id, name, role, prefix, hash, created_at, revoked_at, last_used_at, project, scopes, functions, expires_at, rate_limit';

/** A key's values in the order of API_KEY_COLUMNS. */
export function apiKeyValues(key: ApiKeyRecord): Array<string | null> {
  return [
    key.id,
    key.name,
    key.role,
    key.prefix,
    key.hash,
    key.createdAt,
    key.revokedAt ?? null,
    key.lastUsedAt ?? null,
    key.project,
    key.scopes ? JSON.stringify(key.scopes) : null,
    key.functions ? JSON.stringify(key.functions) : null,
    key.expiresAt ?? null,
    key.rateLimit ? JSON.stringify(key.rateLimit) : null,
  ];
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  const key: ApiKeyRecord = {
    id: row.id,
    name: row.name,
    project: row.project ?? DEFAULT_PROJECT,
    role: row.role,
    prefix: row.prefix,
    hash: row.hash,
    createdAt: row.created_at,
  };
  if (row.scopes !== null) key.scopes = JSON.parse(row.scopes) as ApiKeyRecord['scopes'];
  if (row.functions !== null) key.functions = JSON.parse(row.functions) as string[];
  if (row.expires_at !== null) key.expiresAt = row.expires_at;
  if (row.rate_limit !== null) key.rateLimit = JSON.parse(row.rate_limit) as ApiKeyRecord['rateLimit'];
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  if (row.last_used_at !== null) key.lastUsedAt = row.last_used_at;
  return key;
}

/** The columns a PATCH changes and their new values (null clears), in one order for both stores. */
export function apiKeyChangeColumns(changes: ApiKeyChanges): Array<[column: string, value: string | null]> {
  const columns: Array<[string, string | null]> = [];
  if (changes.name !== undefined) columns.push(['name', changes.name]);
  if (changes.rateLimit !== undefined)
    columns.push(['rate_limit', changes.rateLimit === null ? null : JSON.stringify(changes.rateLimit)]);
  if (changes.expiresAt !== undefined) columns.push(['expires_at', changes.expiresAt]);
  return columns;
}
