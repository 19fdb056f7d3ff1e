import type { Invocation, MetadataStore, NewLogLine } from '@faas/core';

/** Helpers for checking the PostgreSQL store's query plans (its index test and scripts/explain-postgres.ts). */

/** One node of `EXPLAIN (FORMAT JSON)`'s plan tree. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan, parents first. */
export function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

const STATUSES: Invocation['status'][] = ['failed', 'queued', 'running', 'dead_lettered', 'timed_out'];
const BATCH = 1_000;

/**
 * A store with data shaped like a busy one's: functions with a few versions and a route each,
 * invocations over the functions (nine in ten succeeded, the rest in other statuses), log lines,
 * snapshots over instances, a few of them of executions.
 */
export async function fillForExplain(
  store: MetadataStore,
  size: { functions: number; invocations: number; logLines: number; snapshots: number },
): Promise<void> {
  const base = {
    runtime: 'js' as const,
    handler: 'index.default',
    env: {},
    timeoutMs: 1000,
    memoryMb: 64,
    maxConcurrency: 1,
    maxRetries: 0,
    description: '',
    codeSha256: 'a'.repeat(64),
    codeSizeBytes: 1,
    artifactSha256: 'b'.repeat(64),
  };
  for (let f = 0; f < size.functions; f++) {
    const name = `fn${String(f).padStart(3, '0')}`;
    await store.createFunction({ ...base, name, routes: [{ method: 'GET', path: `/${name}/:id` }] });
    for (let v = 2; v <= 3; v++) {
      await store.addVersion({ ...base, name, routes: [{ method: 'GET', path: `/${name}/:id` }] });
    }
  }
  const start = Date.parse('2030-01-01T00:00:00.000Z');
  const ids: string[] = [];
  for (let from = 0; from < size.invocations; from += BATCH) {
    const batch: Invocation[] = [];
    for (let i = from; i < Math.min(size.invocations, from + BATCH); i++) {
      const id = `inv_${String(i).padStart(8, '0')}`;
      ids.push(id);
      batch.push({
        id,
        functionName: `fn${String(i % size.functions).padStart(3, '0')}`,
        version: 1,
        mode: 'sync',
        trigger: 'api',
        status: i % 10 === 0 ? (STATUSES[(i / 10) % STATUSES.length] as Invocation['status']) : 'succeeded',
        attempts: 1,
        createdAt: new Date(start + i * 1000).toISOString(),
      });
    }
    await store.createInvocations(batch);
  }
  for (let from = 0; from < size.logLines; from += BATCH) {
    const lines: NewLogLine[] = [];
    for (let i = from; i < Math.min(size.logLines, from + BATCH); i++) {
      const n = i % Math.max(1, ids.length);
      lines.push({
        invocationId: ids[n] ?? 'inv_none',
        functionName: `fn${String(n % size.functions).padStart(3, '0')}`,
        ts: start + i,
        level: 'log',
        message: `line ${i}`,
      });
    }
    await store.appendLogs(lines);
  }
  // A function that logs little, as most do beside a chatty one: following it must not mean
  // reading everyone's lines.
  await store.appendLogs(
    Array.from({ length: 20 }, (_, i) => ({
      invocationId: 'inv_quiet',
      functionName: 'quiet',
      ts: start + i,
      level: 'log' as const,
      message: `quiet ${i}`,
    })),
  );
  for (let s = 0; s < size.snapshots; s++) {
    await store.createSnapshot({
      id: `snap_${String(s).padStart(6, '0')}`,
      instanceId: `inst_${s % 50}`,
      ...(s % 10 === 0 ? { executionId: `exe_${s}` } : {}),
      kind: 'filesystem',
      spec: {
        image: 'faas/base:x',
        command: ['sh'],
        env: {},
        memoryMb: 256,
        cpus: 1,
        pidsLimit: 128,
        diskMb: 64,
        network: false,
        isolation: 'runc',
        idleTtlMs: 0,
      },
      blobChecksum: 'c'.repeat(64),
      sizeBytes: 1,
      createdAt: start + s,
    });
  }
}

/** A list (or tail) call of the store, the index that must serve it, and the call itself. */
export interface ExplainableQuery {
  name: string;
  /** The index the plan reads (by name), filter and order both. */
  index: RegExp;
  /** Its last statement is the one to EXPLAIN. */
  call: (store: MetadataStore) => Promise<unknown>;
}

export function explainableQueries(): ExplainableQuery[] {
  const t = (i: number) => new Date(Date.parse('2030-01-01T00:00:00.000Z') + i * 1000).toISOString();
  const q = (name: string, index: RegExp, call: ExplainableQuery['call']) => ({ name, index, call });
  return [
    q('listFunctions', /^functions_pkey$/, (s) => s.listFunctions({ limit: 20 })),
    q('listFunctions, next page', /^functions_pkey$/, async (s) =>
      s.listFunctions({ limit: 20, cursor: (await s.listFunctions({ limit: 20 })).nextCursor as string }),
    ),
    q('listVersions', /^function_versions_pkey$/, (s) => s.listVersions('fn007', { limit: 2 })),
    q('listInvocations', /^invocations_by_time$/, (s) => s.listInvocations({}, {})),
    q('listInvocations by function', /^invocations_by_function$/, (s) =>
      s.listInvocations({ functionName: 'fn007' }, {}),
    ),
    q('listInvocations by status (failed)', /^invocations_by_status$/, (s) =>
      s.listInvocations({ status: 'failed' }, {}),
    ),
    // Nine in ten invocations succeed: walking the time index and skipping the others is the way.
    q('listInvocations by status (succeeded)', /^invocations_by_time$/, (s) =>
      s.listInvocations({ status: 'succeeded' }, {}),
    ),
    q('listInvocations since…until', /^invocations_by_time$/, (s) =>
      s.listInvocations({ since: t(500), until: t(900) }, {}),
    ),
    q('listInvocations by function and status (failed)', /^invocations_by_function_status$/, (s) =>
      s.listInvocations({ functionName: 'fn000', status: 'failed' }, {}),
    ),
    q('listInvocations by function and status (succeeded)', /^invocations_by_function$/, (s) =>
      s.listInvocations({ functionName: 'fn007', status: 'succeeded' }, {}),
    ),
    q('listInvocations, next page', /^invocations_by_time$/, async (s) =>
      s.listInvocations({}, { cursor: (await s.listInvocations({}, {})).nextCursor as string }),
    ),
    q('tailLogs', /^logs_pkey$/, (s) => s.tailLogs({ afterSeq: 100, limit: 100 })),
    q('tailLogs by function', /^logs_by_function$/, (s) =>
      s.tailLogs({ functionName: 'quiet', afterSeq: 100, limit: 100 }),
    ),
    q('getLogs', /^logs_by_invocation$/, (s) => s.getLogs('inv_00000007')),
    q('listSnapshots', /^snapshots_by_time$/, (s) => s.listSnapshots({}, {})),
    q('listSnapshots by instance', /^snapshots_by_instance$/, (s) =>
      s.listSnapshots({ instanceId: 'inst_7' }, {}),
    ),
    q('listSnapshots by execution', /^snapshots_by_execution$/, (s) =>
      s.listSnapshots({ executionId: 'exe_70' }, {}),
    ),
  ];
}
