import type pg from 'pg';
import { REVISION_CHANNEL } from './function-queries.ts';
import type { PostgresDatabase } from './postgres-database.ts';

/** Waits between attempts to listen again after the connection broke: 0.5 s doubling to 10 s. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 10_000;

/**
 * LISTENs for changes of `routes_revision` (every create, new version or delete of a function,
 * by any process on the database) on a connection of its own, and calls the listeners, so a
 * server learns of another's deploy at once rather than at its next poll. A broken connection
 * is opened again with backoff, and the listeners are called once it is back: changes made
 * meanwhile were not announced to it.
 */
export class RevisionListener {
  #db: PostgresDatabase;
  #listeners = new Set<() => void>();
  #client: pg.Client | undefined;
  #schema = '';
  #retryMs = RETRY_BASE_MS;
  #timer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** Starts listening with the first listener. Returns a function that removes it. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#client && !this.#connecting && !this.#timer) this.#connect(false);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once listening (or once the attempt to listen failed; it is retried). */
  ready(): Promise<void> {
    return this.#connecting ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#connecting;
    await this.#client?.end().catch(() => {});
    this.#client = undefined;
  }

  #connect(reconnected: boolean): void {
    this.#timer = undefined;
    this.#connecting = this.#open(reconnected).finally(() => {
      this.#connecting = undefined;
    });
  }

  async #open(reconnected: boolean): Promise<void> {
    if (this.#closed) return;
    let client: pg.Client | undefined;
    try {
      client = await this.#db.connect();
      const [row] = (await client.query<{ schema: string | null }>('SELECT current_schema() AS schema')).rows;
      this.#schema = row?.schema ?? '';
      client.on('notification', (n) => {
        if (n.channel === REVISION_CHANNEL && n.payload === this.#schema) this.#notify();
      });
      client.on('error', () => this.#lost(client));
      client.on('end', () => this.#lost(client));
      await client.query(`LISTEN ${REVISION_CHANNEL}`);
    } catch (err) {
      this.#db.fail(err);
      await client?.end().catch(() => {});
      // Changes made before it listens again were not announced to it: tell the listeners then.
      this.#retry(true);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#retryMs = RETRY_BASE_MS;
    if (reconnected) this.#notify();
  }

  #lost(client: pg.Client | undefined): void {
    if (this.#client !== client || this.#closed) return;
    this.#client = undefined;
    client?.end().catch(() => {});
    this.#retry(true);
  }

  #retry(reconnected: boolean): void {
    if (this.#closed) return;
    const wait = this.#retryMs;
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    this.#timer = setTimeout(() => this.#connect(reconnected), wait);
    this.#timer.unref();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
