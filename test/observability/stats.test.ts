// GET /api/v1/stats and `faas stats` against a real server: per function, calls, errors and
// p50/p99 durations over the last minute, hour and day, read from the store.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

interface Window {
  calls: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
}
interface Stats {
  generatedAt: string;
  items: Array<{ functionName: string; minute?: Window; hour?: Window; day?: Window }>;
}

describe('GET /api/v1/stats', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    for (const [name, code] of [
      ['steady', 'export default () => 1'],
      ['flaky', 'export default (e) => { if (e.fail) throw new Error("no"); return 1 }'],
    ]) {
      const res = await server.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', code },
      });
      assert.equal(res.status, 201);
    }
    for (let i = 0; i < 5; i++)
      await (await server.api('/api/v1/functions/steady/invoke', { method: 'POST', json: {} })).text();
    for (const fail of [true, false, true]) {
      await (await server.api('/api/v1/functions/flaky/invoke', { method: 'POST', json: { fail } })).text();
    }
  });
  after(async () => {
    await server.close();
  });

  it('answers per function over the last minute, hour and day, every invocation counted at once', async () => {
    const res = await server.api('/api/v1/stats');
    assert.equal(res.status, 200);
    const stats = (await res.json()) as Stats;
    assert.ok(Number.isFinite(Date.parse(stats.generatedAt)));
    assert.deepEqual(
      stats.items.map((f) => f.functionName),
      ['flaky', 'steady'],
    );
    const [flaky, steady] = stats.items;
    for (const window of [steady?.minute, steady?.hour, steady?.day]) {
      assert.equal(window?.calls, 5);
      assert.equal(window?.errors, 0);
      assert.ok((window?.p50Ms ?? -1) >= 0 && (window?.p99Ms ?? -1) >= (window?.p50Ms ?? 0));
    }
    assert.equal(flaky?.minute?.calls, 3);
    assert.equal(flaky?.minute?.errors, 2);
  });

  it('needs an API key', async () => {
    const res = await server.api('/api/v1/stats', { key: null });
    assert.equal(res.status, 401);
    await res.text();
  });

  it('faas stats prints the table, and the answer with --json', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(FAAS, args, {
          env: { ...process.env, FAAS_URL: server.url, FAAS_API_KEY: ADMIN_KEY },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c));
        child.on('close', (code) => resolve({ code, stdout }));
      });
    const text = await run(['stats']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /FUNCTION/);
    assert.match(text.stdout, /flaky\s*│\s*3 \/ 2 \//);
    const json = await run(['stats', '--json']);
    assert.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout) as Stats;
    assert.equal(parsed.items.find((f) => f.functionName === 'steady')?.day?.calls, 5);
  });
});
