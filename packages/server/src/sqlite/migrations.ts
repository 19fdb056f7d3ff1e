import { readdirSync, readFileSync } from 'node:fs';
import { ErrorCode, FaasError } from '@faas/core';
import type { SqliteDatabase } from './sqlite-database.ts';

/** One numbered schema step, read from `NNN_name.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/**
 * Reads a folder of `NNN_name.sql` files in order; numbers must rise, each used once. A gap is
 * allowed: steps written on parallel branches take numbers ahead, and a build may hold a later
 * step without an earlier one (the runner applies each missing step, whatever its number).
 */
export function loadMigrations(dir: URL): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = MIGRATION_FILE.exec(file);
    if (!match) continue;
    const [, number = '', name = ''] = match;
    migrations.push({ version: Number(number), name, sql: readFileSync(new URL(file, dir), 'utf8') });
  }
  migrations.forEach((m, i) => {
    const previous = migrations[i - 1]?.version ?? 0;
    if (m.version <= previous)
      throw new Error(`migration ${m.version}_${m.name} is out of sequence in ${dir}`);
  });
  return migrations;
}

/** The number of the last step of `migrations` (0 for none): what a schema this build made is at. */
export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.at(-1)?.version ?? 0;
}

/**
 * Brings `component`'s schema up to date. `schema_version` holds one row per applied step and
 * per component, so the store and the queue can share one file with their own numbering. Every
 * step without its row is applied, not only those past the highest: a step numbered below one
 * already applied (written on a parallel branch, merged later) still runs. Each step runs in its
 * own write transaction and re-checks its row inside it, so two processes starting at once apply
 * each step once. Returns the versions applied now.
 */
export function applyMigrations(db: SqliteDatabase, component: string, migrations: Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
  )`);
  const currentVersion = () =>
    db.get<{ v: number | null }>(
      'SELECT max(version) AS v FROM schema_version WHERE component = ?',
      component,
    )?.v ?? 0;

  const known = latestVersion(migrations);
  const found = currentVersion();
  if (found > known) {
    throw new FaasError(
      ErrorCode.INTERNAL,
      `The ${component} schema in ${db.path} is at version ${found}, newer than this build knows (${known})`,
      { details: { component, found, known } },
    );
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    db.transaction(() => {
      const done = db.get<{ v: number }>(
        'SELECT version AS v FROM schema_version WHERE component = ? AND version = ?',
        component,
        migration.version,
      );
      if (done) return;
      db.exec(migration.sql);
      db.run(
        'INSERT INTO schema_version (component, version, name, applied_at) VALUES (?, ?, ?, ?)',
        component,
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
      applied.push(migration.version);
    });
  }
  return applied;
}
