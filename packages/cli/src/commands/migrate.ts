import { ErrorCode, isFaasError, loadConfig } from '@faas/core';
import { CliError, EXIT } from '../exit-codes.ts';
import { type Output, print } from '../output.ts';

/**
 * `faas migrate`: applies the PostgreSQL store's migrations to FAAS_DATABASE_URL (or
 * `--database-url`), for servers started with FAAS_DATABASE_MIGRATE=false. Safe to run while
 * servers start or run: of several migrations at once one applies the steps (an advisory lock).
 * The embedded SQLite store needs none: a server migrates its file when it starts.
 */
export async function migrate(out: Output, flags: { databaseUrl?: string }): Promise<void> {
  const raw = flags.databaseUrl ?? process.env.FAAS_DATABASE_URL;
  if (!raw) {
    throw new CliError(
      'FAAS_DATABASE_URL is not set (nor --database-url): only the PostgreSQL store is migrated this way; the embedded SQLite store migrates itself when the server starts',
      EXIT.USAGE,
    );
  }
  let url: string;
  try {
    // The server's own check of the setting: the same message, the URL never echoed.
    url = loadConfig({ FAAS_DATABASE_URL: raw }).databaseUrl as string;
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.USAGE);
  }
  const { migratePostgresStore } = await import('../../../server/src/store/postgres/postgres-store.ts');
  let result: { applied: number[]; version: number };
  try {
    result = await migratePostgresStore(url);
  } catch (err) {
    if (isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE) {
      throw new CliError(err.message, EXIT.UNREACHABLE);
    }
    throw err;
  }
  print(out, result, () =>
    result.applied.length > 0
      ? `Applied migration(s) ${result.applied.join(', ')}: the store's schema is at version ${result.version}`
      : `Nothing to apply: the store's schema is at version ${result.version}`,
  );
}
