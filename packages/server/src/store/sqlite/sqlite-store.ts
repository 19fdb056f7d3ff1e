import type {
  ApiKeyChanges,
  ApiKeyRecord,
  AuditEntry,
  AuditFilter,
  BackendHealth,
  CorsSettings,
  FunctionInvocationStats,
  FunctionRecord,
  FunctionVersion,
  Invocation,
  InvocationBucketStats,
  InvocationFilter,
  InvocationPatch,
  InvocationTimeSeriesQuery,
  MetadataStore,
  NewFunctionVersion,
  NewLogLine,
  Page,
  PageRequest,
  ProjectQuotas,
  ProjectRecord,
  RateLimit,
  RouteRecord,
  SecretRecord,
  SnapshotFilter,
  SnapshotRecord,
  StoredLogLine,
} from '@faas/core';
import { applyMigrations, loadMigrations, type Migration } from '../../sqlite/migrations.ts';
import { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import { type InvocationStatsRow, invocationStatsSql, statsFromRow } from '../invocation-stats.ts';
import {
  bucketFromRow,
  type InvocationBucketRow,
  invocationTimeSeriesSql,
  timeSeriesParams,
} from '../invocation-time-series.ts';
import { AuditQueries } from './audit-queries.ts';
import { FunctionQueries } from './function-queries.ts';
import { InvocationQueries } from './invocation-queries.ts';
import { KeyQueries } from './key-queries.ts';
import { ProjectQueries } from './project-queries.ts';
import { SecretQueries } from './secret-queries.ts';
import { SnapshotQueries } from './snapshot-queries.ts';

export interface SqliteStoreOptions {
  /** Database file (created with its folder when missing), or `:memory:`. */
  path: string;
  /** How long a write waits for another connection's lock. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Who copies the WAL into the file: `auto` SQLite, inside the commit that fills it (on the
   * calling thread); `thread` a thread of this store's own (SqliteDatabase.checkpointOnThread);
   * `off` another connection to the file that runs them. @default 'auto'
   */
  walCheckpoints?: 'auto' | 'thread' | 'off';
  /** Hears a failed checkpoint on the thread. @default console.warn */
  onCheckpointError?: (err: unknown) => void;
}

const MIGRATIONS: Migration[] = loadMigrations(new URL('./migrations/', import.meta.url));

/**
 * The embedded MetadataStore on `node:sqlite`. Calls run synchronously on one connection, so a
 * transaction never interleaves with another call of this process; other processes on the same
 * file wait on SQLite's write lock (WAL lets their reads go on meanwhile).
 */
export class SqliteStore implements MetadataStore {
  #db: SqliteDatabase;
  #functions: FunctionQueries;
  #invocations: InvocationQueries;
  #keys: KeyQueries;
  #projects: ProjectQueries;
  #snapshots: SnapshotQueries;
  #audit: AuditQueries;
  #secrets: SecretQueries;

  constructor(options: SqliteStoreOptions) {
    this.#db = new SqliteDatabase(options.path, options.busyTimeoutMs, 'store');
    if (options.walCheckpoints === 'off') this.#db.disableAutoCheckpoint();
    if (options.walCheckpoints === 'thread') {
      this.#db.checkpointOnThread({
        onError: options.onCheckpointError ?? ((err) => console.warn('faas: store WAL checkpoint:', err)),
      });
    }
    this.#functions = new FunctionQueries(this.#db);
    this.#invocations = new InvocationQueries(this.#db);
    this.#keys = new KeyQueries(this.#db);
    this.#projects = new ProjectQueries(this.#db);
    this.#snapshots = new SnapshotQueries(this.#db);
    this.#audit = new AuditQueries(this.#db);
    this.#secrets = new SecretQueries(this.#db);
  }

  /** Creates or upgrades the schema, then proves the file can be written (a read-only one fails here). */
  async migrate(): Promise<void> {
    applyMigrations(this.#db, 'store', MIGRATIONS);
    this.#db.probeWrite();
    this.#functions.fillRouteShapes();
  }

  async createFunction(input: NewFunctionVersion): Promise<FunctionRecord> {
    return this.#functions.create(input);
  }

  async addVersion(input: NewFunctionVersion, expectedLatest?: number): Promise<FunctionRecord> {
    return this.#functions.addVersion(input, expectedLatest);
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    return this.#functions.get(name);
  }

  async listFunctions(
    page: PageRequest,
    project?: string,
    names?: readonly string[],
  ): Promise<Page<FunctionRecord>> {
    return this.#functions.list(page, project, names);
  }

  async deleteFunction(name: string): Promise<boolean> {
    return this.#functions.delete(name);
  }

  async getVersion(name: string, version: number): Promise<FunctionVersion | undefined> {
    return this.#functions.getVersion(name, version);
  }

  async listVersions(name: string, page: PageRequest): Promise<Page<FunctionVersion>> {
    return this.#functions.listVersions(name, page);
  }

  async listRoutes(): Promise<RouteRecord[]> {
    return this.#functions.listRoutes();
  }

  async routesRevision(): Promise<number> {
    return this.#functions.routesRevision();
  }

  async createInvocation(
    invocation: Invocation,
    options: { maxQueued?: number } = {},
  ): Promise<{ invocation: Invocation; created: boolean }> {
    return this.#invocations.create(invocation, options.maxQueued);
  }

  async createInvocations(invocations: Invocation[], logs: NewLogLine[] = []): Promise<void> {
    this.#invocations.createMany(invocations, logs);
  }

  async updateInvocation(id: string, patch: InvocationPatch): Promise<Invocation> {
    return this.#invocations.update(id, patch);
  }

  async recordAttempt(
    id: string,
    attempt: number,
    patch: Omit<InvocationPatch, 'attempts'>,
    logs: NewLogLine[] = [],
  ): Promise<Invocation | undefined> {
    return this.#invocations.recordAttempt(id, attempt, patch, logs);
  }

  async releaseIdempotencyKey(id: string): Promise<boolean> {
    return this.#invocations.releaseIdempotencyKey(id);
  }

  async getInvocation(id: string): Promise<Invocation | undefined> {
    return this.#invocations.get(id);
  }

  async listInvocations(filter: InvocationFilter, page: PageRequest): Promise<Page<Invocation>> {
    return this.#invocations.list(filter, page);
  }

  async invocationStats(sinceMs: number, project?: string): Promise<FunctionInvocationStats[]> {
    const params: Array<number | string> = [];
    const sql = invocationStatsSql(
      (value) => {
        params.push(value);
        return '?';
      },
      sinceMs,
      project,
    );
    return this.#db.all<InvocationStatsRow>(sql, ...params).map(statsFromRow);
  }

  async invocationTimeSeries(query: InvocationTimeSeriesQuery): Promise<InvocationBucketStats[]> {
    return this.#db
      .all<InvocationBucketRow>(
        invocationTimeSeriesSql(() => '?'),
        ...timeSeriesParams(query),
      )
      .map(bucketFromRow);
  }

  async deleteOldInvocations(options: {
    createdBefore?: string;
    keepNewest?: number;
    limit: number;
  }): Promise<{ invocations: number; logLines: number }> {
    return this.#invocations.deleteOld(options);
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    this.#invocations.appendLogs(lines);
  }

  async getLogs(invocationId: string): Promise<StoredLogLine[]> {
    return this.#invocations.getLogs(invocationId);
  }

  async tailLogs(options: {
    functionName?: string;
    project?: string;
    afterSeq: number;
    limit?: number;
  }): Promise<StoredLogLine[]> {
    return this.#invocations.tailLogs(options);
  }

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    this.#keys.createApiKey(key);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#keys.findApiKeyByHash(hash);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#keys.listApiKeys();
  }

  async revokeApiKey(id: string): Promise<boolean> {
    return this.#keys.revokeApiKey(id);
  }

  async updateApiKey(id: string, changes: ApiKeyChanges): Promise<ApiKeyRecord | undefined> {
    return this.#keys.updateApiKey(id, changes);
  }

  async countApiKeys(): Promise<number> {
    return this.#keys.countApiKeys();
  }

  async putSecret(secret: SecretRecord): Promise<void> {
    this.#secrets.put(secret);
  }

  async replaceSecretCiphertext(
    project: string,
    name: string,
    expected: string,
    next: Pick<SecretRecord, 'ciphertext' | 'keyId'>,
  ): Promise<boolean> {
    return this.#secrets.replaceCiphertext(project, name, expected, next);
  }

  async getSecrets(project: string, names: readonly string[]): Promise<SecretRecord[]> {
    return this.#secrets.get(project, names);
  }

  async listSecrets(project?: string): Promise<SecretRecord[]> {
    return this.#secrets.list(project);
  }

  async deleteSecret(project: string, name: string): Promise<boolean> {
    return this.#secrets.delete(project, name);
  }

  async createProject(project: ProjectRecord): Promise<void> {
    this.#projects.create(project);
  }

  async getProject(name: string): Promise<ProjectRecord | undefined> {
    return this.#projects.get(name);
  }

  async listProjects(): Promise<ProjectRecord[]> {
    return this.#projects.list();
  }

  async setProjectHost(name: string, host: string | undefined): Promise<ProjectRecord> {
    return this.#projects.setHost(name, host);
  }

  async setProjectQuotas(name: string, quotas: ProjectQuotas): Promise<ProjectRecord> {
    return this.#projects.setQuotas(name, quotas);
  }

  async setProjectCors(name: string, cors: CorsSettings | undefined): Promise<ProjectRecord> {
    return this.#projects.setCors(name, cors);
  }

  async setProjectRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord> {
    return this.#projects.setRateLimit(name, rateLimit);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#audit.append(entry);
  }

  async listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
    return this.#audit.list(filter, page);
  }

  async deleteOldAudit(options: { before: string; limit: number }): Promise<number> {
    return this.#audit.deleteOld(options.before, options.limit);
  }

  async createSnapshot(snapshot: SnapshotRecord): Promise<void> {
    this.#snapshots.create(snapshot);
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    return this.#snapshots.get(id);
  }

  async listSnapshots(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>> {
    return this.#snapshots.list(filter, page);
  }

  async deleteSnapshot(id: string): Promise<boolean> {
    return this.#snapshots.delete(id);
  }

  async blobsNamed(sha256s: readonly string[]): Promise<Set<string>> {
    const wanted = JSON.stringify(sha256s);
    const rows = this.#db.all<{ sha: string }>(
      `SELECT code_sha256 AS sha FROM function_versions WHERE code_sha256 IN (SELECT value FROM json_each(?))
       UNION SELECT artifact_sha256 FROM function_versions WHERE artifact_sha256 IN (SELECT value FROM json_each(?))
       UNION SELECT blob_checksum FROM snapshots WHERE blob_checksum IN (SELECT value FROM json_each(?))`,
      wanted,
      wanted,
      wanted,
    );
    return new Set(rows.map((r) => r.sha));
  }

  async claimSetting(key: string, value: string): Promise<string> {
    return this.#keys.claimSetting(key, value);
  }

  async getSetting(key: string): Promise<string | undefined> {
    return this.#keys.getSetting(key);
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.#keys.setSetting(key, value);
  }

  async ping(): Promise<void> {
    this.#db.get('SELECT 1');
  }

  async health(): Promise<BackendHealth> {
    return this.#db.health();
  }

  async close(): Promise<void> {
    await this.#db.stopCheckpoints();
    this.#db.close();
  }
}

/** Opens (creating when missing) and migrates a SQLite metadata store. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const store = new SqliteStore(options);
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
