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
import { PostgresDatabase, type PostgresDatabaseOptions } from './postgres-database.ts';
import { assertMigrated, migratePostgres, STORE_MIGRATIONS } from './postgres-migrations.ts';
import { ProjectQueries } from './project-queries.ts';
import { RevisionListener } from './revision-listener.ts';
import { SecretQueries } from './secret-queries.ts';
import { SnapshotQueries } from './snapshot-queries.ts';

export interface PostgresStoreOptions extends Omit<PostgresDatabaseOptions, 'poolSize'> {
  /** Connections opened at most. @default 10 */
  poolSize?: number;
}

/**
 * The MetadataStore on PostgreSQL (node-postgres, a pool). Each call is one statement where it
 * can be (one round trip): inserts of many rows take one array per column (unnest), a fenced
 * attempt and its log lines are one statement. Writes of functions take one row lock first, so
 * they run one at a time across every process on the database (as SQLite's write lock makes
 * them). Changes of routes are announced with NOTIFY (`watchRoutesRevision`).
 */
export class PostgresStore implements MetadataStore {
  #db: PostgresDatabase;
  #functions: FunctionQueries;
  #invocations: InvocationQueries;
  #keys: KeyQueries;
  #projects: ProjectQueries;
  #snapshots: SnapshotQueries;
  #audit: AuditQueries;
  #secrets: SecretQueries;
  #revisions: RevisionListener;

  constructor(options: PostgresStoreOptions) {
    this.#db = new PostgresDatabase({ ...options, poolSize: options.poolSize ?? 10 });
    this.#functions = new FunctionQueries(this.#db);
    this.#invocations = new InvocationQueries(this.#db);
    this.#keys = new KeyQueries(this.#db);
    this.#projects = new ProjectQueries(this.#db);
    this.#snapshots = new SnapshotQueries(this.#db);
    this.#audit = new AuditQueries(this.#db);
    this.#secrets = new SecretQueries(this.#db);
    this.#revisions = new RevisionListener(this.#db);
  }

  /** Creates or upgrades the schema; of several processes doing so at once, one does (an advisory lock). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db);
  }

  /** @throws FaasError STORAGE_UNAVAILABLE (run `faas migrate`) unless the schema is this build's. */
  async assertMigrated(): Promise<void> {
    await assertMigrated(this.#db);
  }

  createFunction(input: NewFunctionVersion): Promise<FunctionRecord> {
    return this.#functions.create(input);
  }

  addVersion(input: NewFunctionVersion, expectedLatest?: number): Promise<FunctionRecord> {
    return this.#functions.addVersion(input, expectedLatest);
  }

  getFunction(name: string): Promise<FunctionRecord | undefined> {
    return this.#functions.get(name);
  }

  listFunctions(
    page: PageRequest,
    project?: string,
    names?: readonly string[],
  ): Promise<Page<FunctionRecord>> {
    return this.#functions.list(page, project, names);
  }

  deleteFunction(name: string): Promise<boolean> {
    return this.#functions.delete(name);
  }

  getVersion(name: string, version: number): Promise<FunctionVersion | undefined> {
    return this.#functions.getVersion(name, version);
  }

  listVersions(name: string, page: PageRequest): Promise<Page<FunctionVersion>> {
    return this.#functions.listVersions(name, page);
  }

  listRoutes(): Promise<RouteRecord[]> {
    return this.#functions.listRoutes();
  }

  routesRevision(): Promise<number> {
    return this.#functions.routesRevision();
  }

  watchRoutesRevision(listener: () => void): () => void {
    return this.#revisions.add(listener);
  }

  /** Resolves once `watchRoutesRevision` listens (for tests, and a start that must not miss a change). */
  watching(): Promise<void> {
    return this.#revisions.ready();
  }

  createInvocation(
    invocation: Invocation,
    options: { maxQueued?: number } = {},
  ): Promise<{ invocation: Invocation; created: boolean }> {
    return this.#invocations.create(invocation, options.maxQueued);
  }

  createInvocations(invocations: Invocation[], logs: NewLogLine[] = []): Promise<void> {
    return this.#invocations.createMany(invocations, logs);
  }

  updateInvocation(id: string, patch: InvocationPatch): Promise<Invocation> {
    return this.#invocations.update(id, patch);
  }

  recordAttempt(
    id: string,
    attempt: number,
    patch: Omit<InvocationPatch, 'attempts'>,
    logs: NewLogLine[] = [],
  ): Promise<Invocation | undefined> {
    return this.#invocations.recordAttempt(id, attempt, patch, logs);
  }

  releaseIdempotencyKey(id: string): Promise<boolean> {
    return this.#invocations.releaseIdempotencyKey(id);
  }

  getInvocation(id: string): Promise<Invocation | undefined> {
    return this.#invocations.get(id);
  }

  listInvocations(filter: InvocationFilter, page: PageRequest): Promise<Page<Invocation>> {
    return this.#invocations.list(filter, page);
  }

  async invocationStats(sinceMs: number, project?: string): Promise<FunctionInvocationStats[]> {
    const params: Array<number | string> = [];
    const sql = invocationStatsSql(
      (value) => {
        params.push(value);
        return `$${params.length}`;
      },
      sinceMs,
      project,
    );
    const rows = await this.#db.rows<InvocationStatsRow & Record<string, unknown>>(sql, params);
    return rows.map(statsFromRow);
  }

  async invocationTimeSeries(query: InvocationTimeSeriesQuery): Promise<InvocationBucketStats[]> {
    const rows = await this.#db.rows<InvocationBucketRow & Record<string, unknown>>(
      invocationTimeSeriesSql((i) => `$${i}`),
      timeSeriesParams(query),
    );
    return rows.map(bucketFromRow);
  }

  deleteOldInvocations(options: {
    createdBefore?: string;
    keepNewest?: number;
    limit: number;
  }): Promise<{ invocations: number; logLines: number }> {
    return this.#invocations.deleteOld(options);
  }

  appendLogs(lines: NewLogLine[]): Promise<void> {
    return this.#invocations.appendLogs(lines);
  }

  getLogs(invocationId: string): Promise<StoredLogLine[]> {
    return this.#invocations.getLogs(invocationId);
  }

  tailLogs(options: {
    functionName?: string;
    project?: string;
    afterSeq: number;
    limit?: number;
  }): Promise<StoredLogLine[]> {
    return this.#invocations.tailLogs(options);
  }

  createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.#keys.createApiKey(key);
  }

  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#keys.findApiKeyByHash(hash);
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#keys.listApiKeys();
  }

  revokeApiKey(id: string): Promise<boolean> {
    return this.#keys.revokeApiKey(id);
  }

  updateApiKey(id: string, changes: ApiKeyChanges): Promise<ApiKeyRecord | undefined> {
    return this.#keys.updateApiKey(id, changes);
  }

  countApiKeys(): Promise<number> {
    return this.#keys.countApiKeys();
  }

  putSecret(secret: SecretRecord): Promise<void> {
    return this.#secrets.put(secret);
  }

  replaceSecretCiphertext(
    project: string,
    name: string,
    expected: string,
    next: Pick<SecretRecord, 'ciphertext' | 'keyId'>,
  ): Promise<boolean> {
    return this.#secrets.replaceCiphertext(project, name, expected, next);
  }

  getSecrets(project: string, names: readonly string[]): Promise<SecretRecord[]> {
    return this.#secrets.get(project, names);
  }

  listSecrets(project?: string): Promise<SecretRecord[]> {
    return this.#secrets.list(project);
  }

  deleteSecret(project: string, name: string): Promise<boolean> {
    return this.#secrets.delete(project, name);
  }

  createProject(project: ProjectRecord): Promise<void> {
    return this.#projects.create(project);
  }

  getProject(name: string): Promise<ProjectRecord | undefined> {
    return this.#projects.get(name);
  }

  listProjects(): Promise<ProjectRecord[]> {
    return this.#projects.list();
  }

  setProjectHost(name: string, host: string | undefined): Promise<ProjectRecord> {
    return this.#projects.setHost(name, host);
  }

  setProjectQuotas(name: string, quotas: ProjectQuotas): Promise<ProjectRecord> {
    return this.#projects.setQuotas(name, quotas);
  }

  setProjectCors(name: string, cors: CorsSettings | undefined): Promise<ProjectRecord> {
    return this.#projects.setCors(name, cors);
  }

  setProjectRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord> {
    return this.#projects.setRateLimit(name, rateLimit);
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.#audit.append(entry);
  }

  listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
    return this.#audit.list(filter, page);
  }

  deleteOldAudit(options: { before: string; limit: number }): Promise<number> {
    return this.#audit.deleteOld(options.before, options.limit);
  }

  createSnapshot(snapshot: SnapshotRecord): Promise<void> {
    return this.#snapshots.create(snapshot);
  }

  getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    return this.#snapshots.get(id);
  }

  listSnapshots(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>> {
    return this.#snapshots.list(filter, page);
  }

  deleteSnapshot(id: string): Promise<boolean> {
    return this.#snapshots.delete(id);
  }

  async blobsNamed(sha256s: readonly string[]): Promise<Set<string>> {
    const rows = await this.#db.rows<{ sha: string }>(
      `SELECT code_sha256 AS sha FROM function_versions WHERE code_sha256 = ANY($1::text[])
       UNION SELECT artifact_sha256 FROM function_versions WHERE artifact_sha256 = ANY($1::text[])
       UNION SELECT blob_checksum FROM snapshots WHERE blob_checksum = ANY($1::text[])`,
      [sha256s],
    );
    return new Set(rows.map((r) => r.sha));
  }

  claimSetting(key: string, value: string): Promise<string> {
    return this.#keys.claimSetting(key, value);
  }

  getSetting(key: string): Promise<string | undefined> {
    return this.#keys.getSetting(key);
  }

  setSetting(key: string, value: string): Promise<void> {
    return this.#keys.setSetting(key, value);
  }

  async ping(): Promise<void> {
    await this.#db.rows('SELECT 1');
  }

  async health(): Promise<BackendHealth> {
    return this.#db.health();
  }

  async close(): Promise<void> {
    await this.#revisions.close();
    await this.#db.close();
  }
}

/**
 * Opens a PostgreSQL metadata store and migrates it (or, with `migrate: false`, checks that it
 * is migrated). A database that cannot be reached, refuses the password or does not exist fails
 * here with STORAGE_UNAVAILABLE naming the setting (FAAS_DATABASE_URL), never the password.
 */
export async function openPostgresStore(
  options: PostgresStoreOptions & { migrate?: boolean },
): Promise<PostgresStore> {
  const { migrate = true, ...rest } = options;
  const store = new PostgresStore(rest);
  try {
    if (migrate) await store.migrate();
    else await store.assertMigrated();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** Applies the store's migrations to the database at `url` (`faas migrate`); what it applied. */
export async function migratePostgresStore(url: string): Promise<{ applied: number[]; version: number }> {
  const db = new PostgresDatabase({ url, poolSize: 1 });
  try {
    return { applied: await migratePostgres(db), version: STORE_MIGRATIONS.length };
  } finally {
    await db.close();
  }
}
