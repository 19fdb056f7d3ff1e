import { join } from 'node:path';
import { type Config, type MetadataStore, UnreachableCaseError } from '@faas/core';
import { openSqliteStore, SqliteStore } from './sqlite/sqlite-store.ts';

/** The MetadataStore implementations a configuration can pick. */
export type StoreKind = 'sqlite' | 'postgres';

/** Who opens the store: the server (migrates, writes) or a gateway thread (reads on cache misses). */
export type StoreRole = 'server' | 'gateway-thread';

/**
 * Connections of a gateway thread's own pool. A thread reads the store only when its caches miss
 * (a key not verified lately, a function not resolved yet), never for a warm invocation: two
 * cover that, and the server's pool is kept for its writes.
 */
const GATEWAY_THREAD_POOL_SIZE = 2;

/** PostgreSQL when FAAS_DATABASE_URL is set; the embedded SQLite file otherwise. */
export function storeKind(config: Pick<Config, 'databaseUrl'>): StoreKind {
  return config.databaseUrl === undefined ? 'sqlite' : 'postgres';
}

/**
 * Opens the metadata store the configuration asks for. The server's is migrated (PostgreSQL:
 * unless FAAS_DATABASE_MIGRATE=false, then it must already be); a gateway thread's is the same
 * database, opened after the server migrated it.
 * @throws FaasError STORAGE_UNAVAILABLE (PostgreSQL unreachable, refused, missing; naming
 *   FAAS_DATABASE_URL), STORAGE_READ_ONLY, STORAGE_FULL
 */
export async function openMetadataStore(config: Readonly<Config>, role: StoreRole): Promise<MetadataStore> {
  const kind = storeKind(config);
  switch (kind) {
    case 'sqlite': {
      const path = join(config.dataDir, 'faas.db');
      // The server's store checkpoints the WAL on a thread of its own; no serving thread's
      // commit does (WalCheckpointer says why).
      return role === 'server'
        ? openSqliteStore({ path, walCheckpoints: 'thread' })
        : new SqliteStore({ path, walCheckpoints: 'off' });
    }
    case 'postgres': {
      // Loaded only here: pg and the store's queries, in every thread that opens a store.
      const { openPostgresStore, PostgresStore } = await import('./postgres/postgres-store.ts');
      const url = config.databaseUrl as string;
      return role === 'server'
        ? openPostgresStore({ url, poolSize: config.databasePoolSize, migrate: config.databaseMigrate })
        : new PostgresStore({ url, poolSize: GATEWAY_THREAD_POOL_SIZE });
    }
    default:
      throw new UnreachableCaseError(kind);
  }
}
