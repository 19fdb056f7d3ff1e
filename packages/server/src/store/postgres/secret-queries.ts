import type { SecretRecord } from '@faas/core';
import {
  putSecretSql,
  replaceCiphertextSql,
  SECRET_COLUMNS,
  type SecretRow,
  secretValues,
  toSecret,
} from '../secret-rows.ts';
import type { PostgresDatabase } from './postgres-database.ts';

/** Projects' secrets, as ciphertext (the caller encrypts and decrypts). */
export class SecretQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async put(secret: SecretRecord): Promise<void> {
    await this.#db.count(
      putSecretSql((i) => `$${i}`),
      secretValues(secret),
    );
  }

  async replaceCiphertext(
    project: string,
    name: string,
    expected: string,
    next: Pick<SecretRecord, 'ciphertext' | 'keyId'>,
  ): Promise<boolean> {
    return (
      (await this.#db.count(
        replaceCiphertextSql((i) => `$${i}`),
        [next.ciphertext, next.keyId, project, name, expected],
      )) > 0
    );
  }

  async get(project: string, names: readonly string[]): Promise<SecretRecord[]> {
    if (names.length === 0) return [];
    const rows = await this.#db.rows<SecretRow>(
      `SELECT ${SECRET_COLUMNS} FROM secrets WHERE project = $1 AND name = ANY($2::text[])`,
      [project, names],
    );
    return rows.map(toSecret);
  }

  async list(project?: string): Promise<SecretRecord[]> {
    const rows =
      project === undefined
        ? await this.#db.rows<SecretRow>(`SELECT ${SECRET_COLUMNS} FROM secrets ORDER BY project, name`)
        : await this.#db.rows<SecretRow>(
            `SELECT ${SECRET_COLUMNS} FROM secrets WHERE project = $1 ORDER BY name`,
            [project],
          );
    return rows.map(toSecret);
  }

  async delete(project: string, name: string): Promise<boolean> {
    return (
      (await this.#db.count('DELETE FROM secrets WHERE project = $1 AND name = $2', [project, name])) > 0
    );
  }
}
