import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import pg from 'pg';
import type { SqlValue } from './postgres-database.ts';
import { openPostgresStore, type PostgresStore } from './postgres-store.ts';
import { explainableQueries, fillForExplain, type PlanNode, planNodes } from './test-support.ts';

/** Tables that grow with use: no list query may need to read one of them whole. */
const LARGE = new Set(['invocations', 'logs', 'snapshots', 'function_versions', 'functions']);

describe('PostgreSQL store: an index serves every list query’s filter and order', {
  skip: postgresSkipReason(),
}, () => {
  let db: { url: string; drop(): Promise<void> };
  let store: PostgresStore;
  let explainer: pg.Client;
  let sent: Array<{ text: string; params: readonly SqlValue[] }> = [];
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
    store = await openPostgresStore({ url: db.url, onQuery: (text, params) => sent.push({ text, params }) });
    await fillForExplain(store, { functions: 40, invocations: 20_000, logLines: 20_000, snapshots: 500 });
    explainer = new pg.Client({ connectionString: db.url });
    await explainer.connect();
    await explainer.query('ANALYZE');
    // With sorts and whole-table reads priced out, the planner still picks them when no index
    // serves a query's filter and order: the plan shows whether one does, whatever the table
    // sizes (on a small table it would rightly choose to read it whole).
    await explainer.query('SET enable_sort = off');
    await explainer.query('SET enable_seqscan = off');
  });
  after(async () => {
    await explainer?.end();
    await store?.close();
    await db?.drop();
  });

  /** The statement `call` sent, and its plan. */
  async function planOf(call: (s: MetadataStore) => Promise<unknown>): Promise<PlanNode[]> {
    sent = [];
    await call(store);
    const last = sent.at(-1);
    assert.ok(last, 'the call sent a statement');
    const { rows } = await explainer.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      `EXPLAIN (FORMAT JSON) ${last.text}`,
      [...last.params],
    );
    const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
    assert.ok(plan, 'EXPLAIN returned a plan');
    return planNodes(plan);
  }

  // Its percentiles sort, by nature: what matters is that only one function's range is read.
  it("invocationTimeSeries: one function's range through invocations_by_function, no whole large table", async () => {
    const since = Date.parse('2030-01-01T00:00:00.000Z');
    const nodes = await planOf((s) =>
      s.invocationTimeSeries({
        functionName: 'fn007',
        project: 'default',
        sinceMs: since,
        bucketMs: 60_000,
        buckets: 60,
      }),
    );
    const shape = nodes
      .map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}`)
      .join(' > ');
    assert.ok(
      nodes.some((n) => /Index/.test(n['Node Type']) && n['Index Name'] === 'invocations_by_function'),
      `not through invocations_by_function: ${shape}`,
    );
    const wholeTable = nodes.find(
      (n) => n['Node Type'] === 'Seq Scan' && LARGE.has(n['Relation Name'] ?? ''),
    );
    assert.equal(wholeTable, undefined, `a sequential scan of ${wholeTable?.['Relation Name']}: ${shape}`);
  });

  it('blobsNamed: through an index on each column that names a blob, no whole large table', async () => {
    const asked = Array.from({ length: 500 }, (_, i) => i.toString(16).padStart(64, '0'));
    const nodes = await planOf((s) => s.blobsNamed(asked));
    const shape = nodes
      .map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}`)
      .join(' > ');
    for (const index of ['function_versions_by_code', 'function_versions_by_artifact', 'snapshots_by_blob']) {
      assert.ok(
        nodes.some((n) => n['Index Name'] === index),
        `not through ${index}: ${shape}`,
      );
    }
    const wholeTable = nodes.find(
      (n) => n['Node Type'] === 'Seq Scan' && LARGE.has(n['Relation Name'] ?? ''),
    );
    assert.equal(wholeTable, undefined, `a sequential scan of ${wholeTable?.['Relation Name']}: ${shape}`);
  });

  for (const { name, index, call } of explainableQueries()) {
    it(`${name}: read through ${index.source.replace(/[\^$]/g, '')} in its order, no sort, no whole large table`, async () => {
      const nodes = await planOf(call);
      const shape = nodes
        .map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}`)
        .join(' > ');
      assert.ok(
        nodes.some((n) => /Index/.test(n['Node Type']) && index.test(n['Index Name'] ?? '')),
        `not through ${index}: ${shape}`,
      );
      assert.ok(!nodes.some((n) => n['Node Type'] === 'Sort'), `a sort: ${shape}`);
      const wholeTable = nodes.find(
        (n) => n['Node Type'] === 'Seq Scan' && LARGE.has(n['Relation Name'] ?? ''),
      );
      assert.equal(wholeTable, undefined, `a sequential scan of ${wholeTable?.['Relation Name']}: ${shape}`);
    });
  }
});
