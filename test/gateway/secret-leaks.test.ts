import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { createTestDatabase, postgresSkipReason, postgresTestUrl, queryTestDatabase } from '@faas/testkit';
import { ADMIN_KEY, request, spawnServer, tempDataDir, waitFor } from '../support/server.ts';

/** Every row of every table of a SQLite file, as text (blobs as their bytes). */
function sqliteRows(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
      name: string;
    }>;
    const rows: string[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all()) {
        rows.push(
          `${name}: ${Object.values(row)
            .map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v)))
            .join(' | ')}`,
        );
      }
    }
    return rows;
  } finally {
    db.close();
  }
}

/** Every row of every table of the public schema, as PostgreSQL prints it. */
async function postgresRows(url: string): Promise<string[]> {
  const tables = await queryTestDatabase<{ table_name: string }>(
    url,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
  );
  assert.ok(tables.some((t) => t.table_name === 'secrets'));
  const rows: string[] = [];
  for (const { table_name } of tables) {
    for (const row of await queryTestDatabase<{ t: string }>(
      url,
      `SELECT t::text AS t FROM "${table_name}" t`,
    )) {
      rows.push(`${table_name}: ${row.t}`);
    }
  }
  return rows;
}

/**
 * Issue 19: no API answer, log line, invocation record or error ever holds a secret's value. A
 * unique value is set, functions that return it, throw it and log it (raw and base64) run sync and
 * async, then every stored row, everything the server printed and every listing is searched for
 * the value's bytes and its base64.
 */
async function leakScenario(
  env: Record<string, string>,
  databaseRows: (dataDir: string) => Promise<string[]>,
) {
  const dataDir = tempDataDir();
  const server = await spawnServer(dataDir, { FAAS_LOG_LEVEL: 'debug', ...env });
  const value = `leak-${randomBytes(12).toString('hex')}`;
  const needles = [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url')];
  const api = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await request(server.url, path, { key: ADMIN_KEY, ...init });
    return { status: res.status, text: await res.text() };
  };
  const answers: string[] = [];
  try {
    assert.equal((await api('/api/v1/secrets/LEAKY', { method: 'PUT', json: { value } })).status, 201);
    const functions = {
      'leak-return':
        'export default () => ({ value: process.env.LEAKY, b64: btoa(process.env.LEAKY), length: process.env.LEAKY.length })',
      'leak-throw':
        'export default (e, context) => { throw new Error(`cannot connect with ${context.env.LEAKY}`) }',
      'leak-log':
        'export default () => { console.log("the value is", process.env.LEAKY); console.error(btoa(process.env.LEAKY)); return "logged" }',
    };
    for (const [name, code] of Object.entries(functions)) {
      const made = await api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', secrets: ['LEAKY'], maxRetries: 0, code },
      });
      assert.equal(made.status, 201, made.text);
      answers.push(made.text);
    }
    const returned = await api('/api/v1/functions/leak-return/invoke', { method: 'POST', json: {} });
    assert.equal(returned.status, 200, returned.text);
    // The function saw the value (its length), and the answer holds none of it.
    assert.deepEqual(JSON.parse(returned.text), { value: '[secret]', b64: '[secret]', length: value.length });
    const thrown = await api('/api/v1/functions/leak-throw/invoke', { method: 'POST', json: {} });
    assert.match(thrown.text, /cannot connect with \[secret\]/);
    const logged = await api('/api/v1/functions/leak-log/invoke', { method: 'POST', json: {} });
    assert.equal(logged.status, 200, logged.text);
    const viaTrigger = await api('/fn/leak-return');
    assert.equal(viaTrigger.status, 200, viaTrigger.text);
    answers.push(returned.text, thrown.text, logged.text, viaTrigger.text);
    for (const name of Object.keys(functions)) {
      const queued = await api(`/api/v1/functions/${name}/invoke?async=true`, { method: 'POST', json: {} });
      assert.equal(queued.status, 202, queued.text);
      answers.push(queued.text);
    }
    await waitFor(async () => {
      const listed = await api('/api/v1/invocations?limit=100');
      assert.equal(listed.status, 200, listed.text);
      const items = (JSON.parse(listed.text) as { items: Array<{ mode: string; status: string }> }).items;
      const queued = items.filter((i) => i.mode === 'async');
      return queued.length === 3 && queued.every((i) => !['queued', 'running'].includes(i.status))
        ? true
        : undefined;
    });

    const invocations = JSON.parse((await api('/api/v1/invocations?limit=100')).text) as {
      items: Array<{ id: string }>;
    };
    assert.ok(invocations.items.length >= 7);
    const paths = [
      '/api/v1/secrets',
      '/api/v1/functions',
      '/api/v1/audit?limit=100',
      '/api/v1/invocations?limit=100',
      '/api/v1/logs?limit=1000',
      '/api/v1/stats',
      '/api/v1/keys',
      ...Object.keys(functions).flatMap((n) => [
        `/api/v1/functions/${n}`,
        `/api/v1/functions/${n}/versions`,
        `/api/v1/functions/${n}/versions/1`,
        `/api/v1/logs?functionName=${n}`,
      ]),
      ...invocations.items.flatMap((i) => [
        `/api/v1/invocations/${i.id}`,
        `/api/v1/invocations/${i.id}/logs`,
      ]),
    ];
    for (const path of paths) {
      const got = await api(path);
      assert.ok(got.status < 500, `${path}: ${got.status}`);
      answers.push(`${path}: ${got.text}`);
    }
    // The logged lines are there, with the value hidden.
    assert.match(answers.join('\n'), /the value is \[secret\]/);

    const stored = await databaseRows(dataDir);
    // The search covers the secret's own row and the invocations' and their logs'.
    for (const table of ['secrets:', 'invocations:', 'logs:'])
      assert.ok(
        stored.some((r) => r.startsWith(table)),
        table,
      );
    for (const needle of needles) {
      for (const [where, texts] of [
        ['API answers', answers],
        ['stored rows', stored],
        ['server output', [server.output()]],
      ] as const) {
        const hit = texts.find((t) => t.includes(needle));
        assert.equal(hit, undefined, `${where} hold the value (${needle}): ${hit?.slice(0, 300)}`);
      }
    }
  } finally {
    await server.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('secret values never leave', () => {
  it('through the API, the SQLite database or the server output', async () => {
    await leakScenario({}, async (dataDir) => sqliteRows(join(dataDir, 'faas.db')));
  });

  it('through the API, the PostgreSQL database or the server output', {
    skip: postgresSkipReason(),
  }, async () => {
    const database = await createTestDatabase(postgresTestUrl() as string);
    try {
      await leakScenario({ FAAS_DATABASE_URL: database.url }, async (dataDir) => [
        ...(await postgresRows(database.url)),
        // The queue stays in the data dir's SQLite file.
        ...sqliteRows(join(dataDir, 'faas.db')).filter((r) => !r.startsWith('schema_version')),
      ]);
    } finally {
      await database.drop();
    }
  });
});
