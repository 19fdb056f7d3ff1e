import { type ApiKeyChanges, type ApiKeyRecord, ErrorCode, FaasError } from '@faas/core';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyChangeColumns, apiKeyValues, toApiKey } from '../key-rows.ts';
import { bumpRevision } from './function-queries.ts';
import type { PostgresDatabase } from './postgres-database.ts';

/** API keys and platform settings. */
export class KeyQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** The unique id and active-hash indexes decide (so two processes racing get one CONFLICT). */
  async createApiKey(key: ApiKeyRecord): Promise<void> {
    const created = await this.#db.count(
      `INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
      apiKeyValues(key),
    );
    if (created > 0) return;
    const [taken] = await this.#db.rows<{ id: string }>('SELECT id FROM api_keys WHERE id = $1', [key.id]);
    throw new FaasError(ErrorCode.CONFLICT, `An API key with this ${taken ? 'id' : 'hash'} exists`, {
      details: { id: key.id },
    });
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.#db.rows<ApiKeyRow>(
      'SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL',
      [hash],
    );
    return row && toApiKey(row);
  }

  /** Every key, revoked ones included, oldest first. */
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.#db.rows<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id')).map(toApiKey);
  }

  /**
   * Revoking or changing a key moves the revision, as a deploy does: every node drops the keys
   * it cached when it hears of it (NOTIFY), rather than trusting a revoked one until its cache ends.
   */
  revokeApiKey(id: string): Promise<boolean> {
    return this.#db.transaction(async (sql) => {
      const [revoked] = await sql.rows<{ id: string }>(
        'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id',
        [new Date().toISOString(), id],
      );
      if (revoked) await bumpRevision(sql);
      return revoked !== undefined;
    });
  }

  async updateApiKey(id: string, changes: ApiKeyChanges): Promise<ApiKeyRecord | undefined> {
    const columns = apiKeyChangeColumns(changes);
    if (columns.length === 0) {
      const [row] = await this.#db.rows<ApiKeyRow>(
        'SELECT * FROM api_keys WHERE id = $1 AND revoked_at IS NULL',
        [id],
      );
      return row && toApiKey(row);
    }
    return this.#db.transaction(async (sql) => {
      const [row] = await sql.rows<ApiKeyRow>(
        `UPDATE api_keys SET ${columns.map(([c], i) => `${c} = $${i + 1}`).join(', ')} WHERE id = $${columns.length + 1} AND revoked_at IS NULL RETURNING *`,
        [...columns.map(([, v]) => v), id],
      );
      if (row) await bumpRevision(sql);
      return row && toApiKey(row);
    });
  }

  /** Every key ever created, revoked ones included: "no keys at all" means a first start. */
  async countApiKeys(): Promise<number> {
    const [row] = await this.#db.rows<{ n: number }>('SELECT count(*) AS n FROM api_keys');
    return row?.n ?? 0;
  }

  async getSetting(key: string): Promise<string | undefined> {
    const [row] = await this.#db.rows<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
    return row?.value;
  }

  async claimSetting(key: string, value: string): Promise<string> {
    await this.#db.count('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      value,
    ]);
    return (await this.getSetting(key)) ?? value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.#db.count(
      'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }
}
