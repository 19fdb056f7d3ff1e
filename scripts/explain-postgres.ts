// Prints the plan of every list query of the PostgreSQL metadata store on a database filled like
// a busy one's (the EXPLAIN section of docs/postgres.md comes from here):
//   FAAS_TEST_DATABASE_URL=$(bash scripts/start-postgres.sh) node scripts/explain-postgres.ts
// Creates a database of its own and drops it at the end.

import type { SqlValue } from '../packages/server/src/store/postgres/postgres-database.ts';
import { openPostgresStore } from '../packages/server/src/store/postgres/postgres-store.ts';
import { explainableQueries, fillForExplain } from '../packages/server/src/store/postgres/test-support.ts';
import { createTestDatabase } from '../packages/testkit/src/postgres.ts';

const url = process.env.FAAS_TEST_DATABASE_URL;
if (!url) throw new Error('FAAS_TEST_DATABASE_URL is not set (export it from scripts/start-postgres.sh)');
const size = { functions: 1_000, invocations: 200_000, logLines: 400_000, snapshots: 5_000 };
const db = await createTestDatabase(url);
let sent: Array<{ text: string; params: readonly SqlValue[] }> = [];
const store = await openPostgresStore({
  url: db.url,
  onQuery: (text, params) => sent.push({ text, params }),
});
try {
  const started = performance.now();
  await fillForExplain(store, size);
  console.log(`filled in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(size)}`);
  await store.ping();
  sent = [];
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('ANALYZE');
    for (const { name, call } of explainableQueries()) {
      sent = [];
      await call(store);
      const last = sent.at(-1);
      if (!last) continue;
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${last.text}`,
        [...last.params],
      );
      console.log(`\n-- ${name}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    }
  } finally {
    await client.end();
  }
} finally {
  await store.close();
  await db.drop();
}
