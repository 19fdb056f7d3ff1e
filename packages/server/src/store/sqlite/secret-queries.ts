import type { SecretRecord } from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import {
  putSecretSql,
  replaceCiphertextSql,
  SECRET_COLUMNS,
  type SecretRow,
  secretValues,
  toSecret,
} from '../secret-rows.ts';

/** Projects' secrets, as ciphertext (the caller encrypts and decrypts). */
export class SecretQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  put(secret: SecretRecord): void {
    this.#db.run(
      putSecretSql(() => '?'),
      ...secretValues(secret),
    );
  }

  replaceCiphertext(
    project: string,
    name: string,
    expected: string,
    next: Pick<SecretRecord, 'ciphertext' | 'keyId'>,
  ): boolean {
    return (
      this.#db.run(
        replaceCiphertextSql(() => '?'),
        next.ciphertext,
        next.keyId,
        project,
        name,
        expected,
      ).changes > 0
    );
  }

  get(project: string, names: readonly string[]): SecretRecord[] {
    if (names.length === 0) return [];
    return this.#db
      .all<SecretRow>(
        `SELECT ${SECRET_COLUMNS} FROM secrets WHERE project = ? AND name IN (${names.map(() => '?').join(', ')})`,
        project,
        ...names,
      )
      .map(toSecret);
  }

  list(project?: string): SecretRecord[] {
    const rows =
      project === undefined
        ? this.#db.all<SecretRow>(`SELECT ${SECRET_COLUMNS} FROM secrets ORDER BY project, name`)
        : this.#db.all<SecretRow>(
            `SELECT ${SECRET_COLUMNS} FROM secrets WHERE project = ? ORDER BY name`,
            project,
          );
    return rows.map(toSecret);
  }

  delete(project: string, name: string): boolean {
    return this.#db.run('DELETE FROM secrets WHERE project = ? AND name = ?', project, name).changes > 0;
  }
}
