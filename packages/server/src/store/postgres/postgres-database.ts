import { type BackendHealth, isFaasError } from '@faas/core';
import pg from 'pg';
import { FailureMemory, isStorageError } from '../../storage/storage-errors.ts';
import { describeDatabaseUrl, isRetryable, toPostgresError } from './postgres-errors.ts';

export type SqlValue = string | number | boolean | null | ReadonlyArray<string | number | boolean | null>;

/** Runs one statement: the pool's (autocommit) or a transaction's. */
export interface Sql {
  rows<T extends pg.QueryResultRow>(text: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Rows changed (or returned) by the statement. */
  count(text: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Where the tables live (created by `migrate` when missing); default the role's search_path. */
  schema?: string;
  /** Connections opened at most. */
  poolSize: number;
  /** How a person finds the setting the URL came from, for messages. @default 'FAAS_DATABASE_URL' */
  setting?: string;
  /** Hears every statement sent outside a transaction, before it is sent (to EXPLAIN them in tests). */
  onQuery?: (text: string, params: readonly SqlValue[]) => void;
}

/** How long opening a connection (or waiting for a free one) may take before it is a failure. */
const CONNECT_TIMEOUT_MS = 5_000;
/** A statement running longer holds a connection others wait for: it is cancelled. */
const STATEMENT_TIMEOUT_MS = 30_000;
const IDLE_CONNECTION_MS = 30_000;
const TRANSACTION_TRIES = 3;

/** bigint columns (counts, sequence numbers, ms timestamps) as numbers: they stay below 2^53. */
const TYPES = {
  getTypeParser(oid: number, format?: string) {
    if (oid === pg.types.builtins.INT8) return Number;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * A node-postgres pool with the store's habits: failures of the database as FaasErrors (and
 * remembered for `health()`), transactions that retry a lost race, and text that PostgreSQL
 * cannot hold made storable.
 */
export class PostgresDatabase implements Sql {
  readonly #pool: pg.Pool;
  readonly #failures = new FailureMemory();
  readonly #onQuery: PostgresDatabaseOptions['onQuery'];
  /** The URL without its password, and the setting it came from, for messages. */
  readonly where: string;
  readonly url: string;
  readonly schema: string | undefined;

  constructor(options: PostgresDatabaseOptions) {
    this.url = options.url;
    this.schema = options.schema;
    this.#onQuery = options.onQuery;
    this.where = `${describeDatabaseUrl(options.url)} (${options.setting ?? 'FAAS_DATABASE_URL'})`;
    this.#pool = new pg.Pool({
      ...clientConfig(options),
      max: options.poolSize,
      idleTimeoutMillis: IDLE_CONNECTION_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
    });
    // An idle connection that breaks (the server restarts) is reported here; unheard, the
    // pool's 'error' event would end the process.
    this.#pool.on('error', (err) => this.#fail(err));
  }

  async rows<T extends pg.QueryResultRow>(text: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#onQuery?.(text, params);
    try {
      return (await this.#pool.query<T>(text, storable(params))).rows;
    } catch (err) {
      throw this.#fail(err);
    }
  }

  async count(text: string, params: readonly SqlValue[] = []): Promise<number> {
    this.#onQuery?.(text, params);
    try {
      return (await this.#pool.query(text, storable(params))).rowCount ?? 0;
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /**
   * Runs `work` in a READ COMMITTED transaction on one connection; a serialization failure or
   * deadlock runs it again (up to 3 times in all). A FaasError thrown by `work` rolls back and
   * passes unchanged.
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (err) {
        throw this.#fail(err);
      }
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work(onClient(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => {
          broken = rollbackErr;
        });
        if (isRetryable(err) && attempt < TRANSACTION_TRIES) continue;
        throw this.#fail(err);
      } finally {
        // A connection whose rollback failed is in an unknown state: the pool drops it.
        client.release(broken);
      }
    }
  }

  /** A connection of its own, outside the pool (migrations' session lock, LISTEN). */
  async connect(): Promise<pg.Client> {
    const client = new pg.Client(
      clientConfig({ url: this.url, ...(this.schema ? { schema: this.schema } : {}) }),
    );
    client.on('error', (err) => this.#fail(err));
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw this.#fail(err);
    }
    return client;
  }

  /** Maps a failure and remembers a storage failure for `health()`. */
  fail(err: unknown): unknown {
    return this.#fail(err);
  }

  health(): BackendHealth {
    return this.#failures.health();
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  #fail(err: unknown): unknown {
    const mapped = toPostgresError(err, this.where);
    if (isStorageError(mapped)) this.#failures.note(mapped);
    return isFaasError(mapped) ? mapped : err;
  }
}

function clientConfig(options: { url: string; schema?: string }): pg.ClientConfig {
  return {
    connectionString: options.url,
    application_name: 'faas',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    types: TYPES,
    // Set at connection start: no round trip of its own.
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  };
}

function onClient(client: pg.PoolClient): Sql {
  return {
    async rows<T extends pg.QueryResultRow>(text: string, params: readonly SqlValue[] = []) {
      return (await client.query<T>(text, storable(params))).rows;
    },
    async count(text: string, params: readonly SqlValue[] = []) {
      return (await client.query(text, storable(params))).rowCount ?? 0;
    },
  };
}

/**
 * PostgreSQL's text cannot hold U+0000 (SQLite's can): a NUL from a function's log or an
 * idempotency key would fail the write, and a record batch would be retried forever. It is
 * stored as U+FFFD, the replacement character; equal strings stay equal, so lookups still match.
 */
function storable(params: readonly SqlValue[]): unknown[] {
  return params.map((p) => {
    if (typeof p === 'string') return p.includes('\0') ? p.replaceAll('\0', '\uFFFD') : p;
    if (Array.isArray(p))
      return p.map((v) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v));
    return p;
  });
}
