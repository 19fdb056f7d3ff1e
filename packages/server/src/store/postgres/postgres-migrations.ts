import { ErrorCode, FaasError } from '@faas/core';
import type pg from 'pg';
import { latestVersion, loadMigrations, type Migration } from '../../sqlite/migrations.ts';
import type { PostgresDatabase } from './postgres-database.ts';

/** The store's numbered steps, `migrations/NNN_name.sql` (the same file format as SQLite's). */
export const STORE_MIGRATIONS: Migration[] = loadMigrations(new URL('./migrations/', import.meta.url));

const COMPONENT = 'store';
/**
 * First key of the session advisory lock migrations hold; the second is the schema's hash, so
 * stores in different schemas of one database do not wait on each other.
 */
const MIGRATION_LOCK = 0x66616173; // "faas"

const UNDEFINED_TABLE = '42P01';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Brings the store's schema up to date under a session advisory lock: of servers (or `faas
 * migrate` runs) starting together, one applies the steps while the others wait, then find
 * nothing left to do. Each step runs in its own transaction with its `schema_version` row.
 * @returns the versions applied now.
 * @throws FaasError INTERNAL when the database's schema is newer than this build.
 */
export async function migratePostgres(
  db: PostgresDatabase,
  migrations: Migration[] = STORE_MIGRATIONS,
): Promise<number[]> {
  const client = await db.connect();
  try {
    const schema = db.schema;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name "${schema}"`);
    await client.query("SELECT pg_advisory_lock($1, hashtext(coalesce($2::text, current_schema(), '')))", [
      MIGRATION_LOCK,
      schema ?? null,
    ]);
    try {
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_version (
        component  text NOT NULL,
        version    bigint NOT NULL,
        name       text NOT NULL,
        applied_at text NOT NULL,
        PRIMARY KEY (component, version)
      )`);
      const found = await versionsOn(client);
      refuseNewer(db, Math.max(0, ...found), latestVersion(migrations));
      const applied: number[] = [];
      // Every step without its row, not only those past the highest (see applyMigrations).
      for (const migration of migrations) {
        if (found.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO schema_version (component, version, name, applied_at) VALUES ($1, $2, $3, $4)',
            [COMPONENT, migration.version, migration.name, new Date().toISOString()],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => {});
    }
  } catch (err) {
    throw db.fail(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * For a server told not to migrate: resolves when the schema is the one this build knows.
 * @throws FaasError STORAGE_UNAVAILABLE naming `faas migrate` when it is older (or absent),
 *   INTERNAL when it is newer.
 */
export async function assertMigrated(
  db: PostgresDatabase,
  migrations: Migration[] = STORE_MIGRATIONS,
): Promise<void> {
  let found = new Set<number>();
  try {
    const rows = await db.rows<{ v: number | string }>(
      'SELECT version AS v FROM schema_version WHERE component = $1',
      [COMPONENT],
    );
    found = new Set(rows.map((r) => Number(r.v)));
  } catch (err) {
    // No schema_version table: nothing was ever migrated here.
    if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
  }
  const known = latestVersion(migrations);
  refuseNewer(db, Math.max(0, ...found), known);
  const missing = migrations.filter((m) => !found.has(m.version)).map((m) => m.version);
  if (missing.length > 0) {
    throw new FaasError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `The store's database ${db.where} lacks schema steps ${missing.join(', ')} this build needs: run \`faas migrate\` (or start with FAAS_DATABASE_MIGRATE=true)`,
      { details: { backend: 'store', database: db.where, missing, known } },
    );
  }
}

async function versionsOn(client: pg.Client): Promise<Set<number>> {
  const { rows } = await client.query<{ v: number | string }>(
    'SELECT version AS v FROM schema_version WHERE component = $1',
    [COMPONENT],
  );
  return new Set(rows.map((r) => Number(r.v)));
}

function refuseNewer(db: PostgresDatabase, found: number, known: number): void {
  if (found > known) {
    throw new FaasError(
      ErrorCode.INTERNAL,
      `The store schema in ${db.where} is at version ${found}, newer than this build knows (${known})`,
      { details: { component: COMPONENT, found, known } },
    );
  }
}
