import type { SecretRecord } from '@faas/core';

/** A `secrets` row, as both stores keep it. */
export interface SecretRow {
  project: string;
  name: string;
  ciphertext: string;
  key_id: string;
  created_at: string;
  updated_at: string;
}

export const SECRET_COLUMNS = 'project, name, ciphertext, key_id, created_at, updated_at';

/** A secret's values in the order of SECRET_COLUMNS. */
export function secretValues(secret: SecretRecord): string[] {
  return [secret.project, secret.name, secret.ciphertext, secret.keyId, secret.createdAt, secret.updatedAt];
}

export function toSecret(row: SecretRow): SecretRecord {
  return {
    project: row.project,
    name: row.name,
    ciphertext: row.ciphertext,
    keyId: row.key_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** An upsert that keeps the first `created_at` (placeholders given by the dialect). */
export function putSecretSql(placeholder: (i: number) => string): string {
  const values = SECRET_COLUMNS.split(', ').map((_, i) => placeholder(i + 1));
  return `INSERT INTO secrets (${SECRET_COLUMNS}) VALUES (${values.join(', ')})
    ON CONFLICT (project, name) DO UPDATE SET
      ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at`;
}

/**
 * A compare-and-set of a secret's ciphertext (parameters: the new ciphertext, its key id, project,
 * name, the ciphertext expected): nothing changes when another write came first.
 */
export function replaceCiphertextSql(placeholder: (i: number) => string): string {
  const [ciphertext, keyId, project, name, expected] = [1, 2, 3, 4, 5].map(placeholder);
  return `UPDATE secrets SET ciphertext = ${ciphertext}, key_id = ${keyId}
    WHERE project = ${project} AND name = ${name} AND ciphertext = ${expected}`;
}
