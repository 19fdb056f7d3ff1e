import { type ApiKeyChanges, type ApiKeyRecord, ErrorCode, FaasError } from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyChangeColumns, apiKeyValues, toApiKey } from '../key-rows.ts';

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
        `INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ...apiKeyValues(key),
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

  updateApiKey(id: string, changes: ApiKeyChanges): ApiKeyRecord | undefined {
    const columns = apiKeyChangeColumns(changes);
    return this.#db.transaction(() => {
      if (columns.length > 0) {
        this.#db.run(
          `UPDATE api_keys SET ${columns.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ? AND revoked_at IS NULL`,
          ...columns.map(([, v]) => v),
          id,
        );
      }
      const row = this.#db.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL', id);
      return row && toApiKey(row);
    });
  }

  /** Every key ever created, revoked ones included: "no keys at all" means a first start. */
  countApiKeys(): number {
    return this.#db.get<{ n: number }>('SELECT count(*) AS n FROM api_keys')?.n ?? 0;
  }

  getSetting(key: string): string | undefined {
    return this.#db.get<{ value: string }>('SELECT value FROM settings WHERE key = ?', key)?.value;
  }

  claimSetting(key: string, value: string): string {
    this.#db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value);
    return this.getSetting(key) ?? value;
  }

  setSetting(key: string, value: string): void {
    this.#db.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }
}
