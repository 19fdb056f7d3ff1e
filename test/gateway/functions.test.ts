import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FunctionRecord, FunctionVersion, Page } from '@faas/core';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('functions and versions', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const invoke = async (ref: string, event: unknown) => {
    const res = await s.api(`/api/v1/functions/${ref}/invoke`, { method: 'POST', json: event });
    assert.equal(res.status, 200, await res.clone().text());
    return { body: await res.json(), version: res.headers.get('x-function-version') };
  };

  it('creates, reads, lists, patches, replaces and deletes a function', async () => {
    const created = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'greet',
        runtime: 'ts',
        code: 'export default async (e: { name: string }) => `hello ${e.name}`',
        env: { GREETING: 'hello' },
        description: 'says hello',
      },
    });
    assert.equal(created.status, 201);
    const record = (await created.json()) as FunctionRecord;
    assert.equal(record.latestVersion, 1);
    assert.equal(record.latest.handler, 'index.default');
    assert.match(record.latest.codeSha256, /^[0-9a-f]{64}$/);
    assert.ok(record.latest.codeSizeBytes > 0);

    assert.deepEqual((await invoke('greet', { name: 'ada' })).body, 'hello ada');

    const patched = await s.api('/api/v1/functions/greet', { method: 'PATCH', json: { timeoutMs: 2000 } });
    assert.equal(patched.status, 200);
    const v2 = (await patched.json()) as FunctionRecord;
    assert.equal(v2.latestVersion, 2);
    assert.equal(v2.latest.timeoutMs, 2000);
    assert.equal(v2.latest.codeSha256, record.latest.codeSha256, 'config change keeps the code');

    const put = await s.api('/api/v1/functions/greet', {
      method: 'PUT',
      json: { runtime: 'js', code: 'export default (e) => `hi ${e.name}`' },
    });
    assert.equal(put.status, 200);
    assert.equal(put.headers.get('x-faas-deploy'), 'updated');
    assert.equal(((await put.json()) as FunctionRecord).latestVersion, 3);

    assert.deepEqual((await invoke('greet', { name: 'ada' })).body, 'hi ada');
    assert.deepEqual(
      (await invoke('greet:1', { name: 'ada' })).body,
      'hello ada',
      'old versions stay invocable',
    );
    const byQuery = await s.api('/api/v1/functions/greet/invoke?version=1', {
      method: 'POST',
      json: { name: 'x' },
    });
    assert.equal(byQuery.headers.get('x-function-version'), '1');

    const versions = (await (
      await s.api('/api/v1/functions/greet/versions')
    ).json()) as Page<FunctionVersion>;
    assert.deepEqual(
      versions.items.map((v) => v.version),
      [3, 2, 1],
    );
    const v1 = (await (await s.api('/api/v1/functions/greet/versions/1')).json()) as FunctionVersion;
    assert.equal(v1.runtime, 'ts');

    assert.equal((await s.api('/api/v1/functions/greet', { method: 'DELETE' })).status, 204);
    assert.equal((await s.api('/api/v1/functions/greet')).status, 404);
    assert.equal((await s.api('/api/v1/functions/greet', { method: 'DELETE' })).status, 404);
  });

  it('PUT creates, then makes no version when nothing changed', async () => {
    const body = { runtime: 'js', code: 'export default () => 42' };
    const first = await s.api('/api/v1/functions/answer', { method: 'PUT', json: body });
    assert.equal(first.status, 201);
    const again = await s.api('/api/v1/functions/answer', { method: 'PUT', json: body });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-faas-deploy'), 'unchanged');
    assert.equal(((await again.json()) as FunctionRecord).latestVersion, 1);
  });

  it('stores identical code once', async () => {
    const code = 'export default () => "same"';
    const a = (await (
      await s.api('/api/v1/functions', { method: 'POST', json: { name: 'twin-a', runtime: 'js', code } })
    ).json()) as FunctionRecord;
    const b = (await (
      await s.api('/api/v1/functions', { method: 'POST', json: { name: 'twin-b', runtime: 'js', code } })
    ).json()) as FunctionRecord;
    assert.equal(a.latest.codeSha256, b.latest.codeSha256);
  });

  it('takes several files and a handler naming a file and an export', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'multi',
        runtime: 'ts',
        handler: 'src/api.handle',
        code: {
          files: {
            'src/api.ts':
              'import { double } from "./lib/math";\nexport function handle(e: { n: number }) { return double(e.n); }',
            'src/lib/math.ts': 'export const double = (n: number): number => n * 2;',
          },
        },
      },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal((await invoke('multi', { n: 21 })).body, 42);
  });

  it('pages through the function list by name', async () => {
    for (const n of ['page-c', 'page-a', 'page-b']) {
      await s.api(`/api/v1/functions/${n}`, {
        method: 'PUT',
        json: { runtime: 'js', code: 'export default () => 1' },
      });
    }
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = (await (await s.api(`/api/v1/functions?limit=2${q}`)).json()) as Page<FunctionRecord>;
      assert.ok(page.items.length <= 2);
      names.push(...page.items.map((f) => f.name));
      cursor = page.nextCursor;
    } while (cursor);
    const pages = names.filter((n) => n.startsWith('page-'));
    assert.deepEqual(pages, ['page-a', 'page-b', 'page-c']);
    assert.deepEqual(names, [...names].sort());
  });
});
