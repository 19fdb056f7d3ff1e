import { type ApiKeyRecord, ErrorCode, FaasError } from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';

interface ApiKeyRow {
  id: string;
  name: string;
  role: ApiKeyRecord['role'];
  prefix: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** API keys and platform settings. */
export class KeyQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  createApiKey(key: ApiKeyRecord): void {
    this.#db.transaction(() => {
      const taken = this.#db.get<{ id: string }>(
        'SELECT id FROM api_keys WHERE id = ? OR (hash = ? AND revoked_at IS NULL)',
        key.id,
        key.hash,
      );
      if (taken) {
        throw new FaasError(
          ErrorCode.CONFLICT,
          `An API key with this ${taken.id === key.id ? 'id' : 'hash'} exists`,
          {
            details: { id: key.id },
          },
        );
      }
      this.#db.run(
        `INSERT INTO api_keys (id, name, role, prefix, hash, created_at, revoked_at, last_used_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        key.id,
        key.name,
        key.role,
        key.prefix,
        key.hash,
        key.createdAt,
        key.revokedAt ?? null,
        key.lastUsedAt ?? null,
      );
    });
  }

  findApiKeyByHash(hash: string): ApiKeyRecord | undefined {
    const row = this.#db.get<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL', hash);
    return row && toApiKey(row);
  }

  /** Every key, revoked ones included, oldest first. */
  listApiKeys(): ApiKeyRecord[] {
    return this.#db.all<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id').map(toApiKey);
  }

  revokeApiKey(id: string): boolean {
    const { changes } = this.#db.run(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
      new Date().toISOString(),
      id,
    );
    return changes > 0;
  }

  /** Every key ever created, revoked ones included: "no keys at all" means a first start. */
  countApiKeys(): number {
    return this.#db.get<{ n: number }>('SELECT count(*) AS n FROM api_keys')?.n ?? 0;
  }

  getSetting(key: string): string | undefined {
    return this.#db.get<{ value: string }>('SELECT value FROM settings WHERE key = ?', key)?.value;
  }

  setSetting(key: string, value: string): void {
    this.#db.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  const key: ApiKeyRecord = {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    hash: row.hash,
    createdAt: row.created_at,
  };
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  if (row.last_used_at !== null) key.lastUsedAt = row.last_used_at;
  return key;
}
