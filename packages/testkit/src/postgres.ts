import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The variable `.ci/run` sets (scripts/start-postgres.sh prints its value). */
export const TEST_DATABASE_URL_VAR = 'FAAS_TEST_DATABASE_URL';

/**
 * The PostgreSQL the tests run against, or undefined when none is configured. In CI (`CI` set)
 * a missing URL is an error, not a skip: the PostgreSQL store's tests must never pass by not running.
 */
export function postgresTestUrl(): string | undefined {
  const url = process.env[TEST_DATABASE_URL_VAR];
  if (url) return url;
  if (process.env.CI) {
    throw new Error(`${TEST_DATABASE_URL_VAR} is not set: .ci/run must start PostgreSQL and set it`);
  }
  return undefined;
}

/** Why PostgreSQL tests are skipped here, or undefined when they run (for `{ skip }`). */
export function postgresSkipReason(): string | undefined {
  return postgresTestUrl() === undefined
    ? `${TEST_DATABASE_URL_VAR} is not set (export it from scripts/start-postgres.sh)`
    : undefined;
}

/** A name no other test (file or run) uses: for a schema or a database. */
export function uniquePostgresName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function onAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database for one test file (dropped by `drop`, its connections ended). */
export async function createTestDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniquePostgresName('faas_t');
  await onAdmin(url, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(url, name),
    drop: () => onAdmin(url, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** Drops a schema a test made, with everything in it. */
export async function dropTestSchema(url: string, schema: string): Promise<void> {
  await onAdmin(url, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

/** Runs one statement as the test role (to look at what a store wrote, or break it on purpose). */
export function queryTestDatabase<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
  schema?: string,
): Promise<T[]> {
  return onAdmin(url, async (c) => {
    if (schema) await c.query(`SET search_path TO ${schema}`);
    return (await c.query<T>(text, params)).rows;
  });
}
