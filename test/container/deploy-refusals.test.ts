import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';
import { engineSkipReason } from './support.ts';

const skip = await engineSkipReason();

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

interface Refusal {
  name: string;
  body: Record<string, unknown>;
  status: number;
  code: string;
  /** What the message must say: the file and line where the agent can tell. */
  message: RegExp;
}

const NODE_REFUSALS: Refusal[] = [
  {
    name: 'node syntax error',
    body: {
      runtime: 'node',
      code: { files: { 'index.js': 'const ok = 1;\nexport default async ( => {\n' } },
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /index\.js:2:\d+: SyntaxError: Unexpected token/,
  },
  {
    name: 'node module that throws at load',
    body: {
      runtime: 'node',
      code: {
        files: {
          'index.js': "const a = 1;\nthrow new TypeError('broken at load');\nexport default () => a;",
        },
      },
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /index\.js:2:\d+: TypeError: broken at load/,
  },
  {
    name: 'node export default 42',
    body: { runtime: 'node', code: { files: { 'index.js': 'export default 42;' } } },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /index\.js: HandlerNotFound: .*no function export named "default" \(it is a number\)/,
  },
  {
    name: 'node handler export missing',
    body: {
      runtime: 'node',
      handler: 'index.handle',
      code: { files: { 'index.js': 'export const other = () => 1;' } },
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /index\.js: HandlerNotFound: .*no function export named "handle" \(there is none\)/,
  },
  {
    name: 'node import of a package that is not there',
    body: {
      runtime: 'node',
      code: { files: { 'index.js': "import x from 'faas-no-such-pkg';\nexport default x;" } },
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /index\.js: Error: Cannot find package 'faas-no-such-pkg'/,
  },
  {
    name: 'node handler file missing',
    body: { runtime: 'node', code: { files: { 'other.js': 'export default () => 1' } } },
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
    message: /handler "index\.default" names a file that is not in the code/,
  },
  {
    name: 'node dependency missing from the registry',
    body: {
      runtime: 'node',
      code: {
        files: {
          'package.json': JSON.stringify({ dependencies: { 'faas-test-no-such-package-xyz': '1.0.0' } }),
          'index.js': 'export default () => 1',
        },
      },
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /npm.*faas-test-no-such-package-xyz/s,
  },
];

const PYTHON_REFUSALS: Refusal[] = [
  {
    name: 'python syntax error',
    body: { runtime: 'python', code: 'import os\ndef handler(event, context)\n    return 1\n' },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /main\.py:2:\d+: SyntaxError/,
  },
  {
    name: 'python module that raises at import',
    body: { runtime: 'python', code: 'x = 1\n\nraise ValueError("broken at import")\n' },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /main\.py:3: ValueError: broken at import/,
  },
  {
    name: 'python handler missing',
    body: { runtime: 'python', code: 'def other(event, context):\n    return 1\n' },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /main\.py: LookupError: .*no function named "handler" \(there is none\)/,
  },
  {
    name: 'python import of a module that is not there',
    body: {
      runtime: 'python',
      code: 'import faas_no_such_module\ndef handler(event, context):\n    return 1\n',
    },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /main\.py:1: ModuleNotFoundError: No module named 'faas_no_such_module'/,
  },
];

const IMAGE_REFUSALS: Refusal[] = [
  {
    name: 'image that is not in the engine',
    body: { runtime: 'image', image: 'faas-test/no-such-image:1', command: ['true'] },
    status: 422,
    code: 'FAAS_ERR_COMPILE_ERROR',
    message: /Image "faas-test\/no-such-image:1" is not in the local engine/,
  },
  {
    name: 'image name the Engine could not be asked for',
    body: { runtime: 'image', image: 'my image', command: ['true'] },
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
    message: /image/,
  },
  {
    name: 'image name that would call another Engine endpoint',
    body: { runtime: 'image', image: 'faas/base/json?', command: ['true'] },
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
    message: /image/,
  },
  {
    name: 'image function without a command',
    body: { runtime: 'image', image: 'faas-test/no-such-image:1' },
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
    message: /command/,
  },
];

describe('deploys that cannot run are refused, and make no version', { skip }, () => {
  let s: TestServer;
  let n = 0;

  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  for (const refusal of [...NODE_REFUSALS, ...PYTHON_REFUSALS, ...IMAGE_REFUSALS]) {
    it(`${refusal.name}: ${refusal.status} ${refusal.code}, no function`, { timeout: 600_000 }, async () => {
      n += 1;
      const name = `refused-${n}`;
      const res = await s.api('/api/v1/functions', { method: 'POST', json: { name, ...refusal.body } });
      const text = await res.text();
      assert.equal(res.status, refusal.status, text);
      const body = JSON.parse(text) as ErrorBody;
      assert.equal(body.error.code, refusal.code, text);
      assert.match(body.error.message, refusal.message);
      assert.doesNotMatch(text, new RegExp(s.dataDir.replaceAll('/', '\\/')), 'no host path in the error');
      assert.equal((await s.api(`/api/v1/functions/${name}`)).status, 404, 'no function was created');
    });
  }

  it('a refused update keeps the latest version and its warm containers answering', {
    timeout: 600_000,
  }, async () => {
    const name = 'refused-update';
    const created = await s.api(`/api/v1/functions/${name}`, {
      method: 'PUT',
      json: { runtime: 'node', code: 'export default async () => "v1"' },
    });
    assert.equal(created.status, 201, await created.clone().text());
    for (const refusal of NODE_REFUSALS.slice(0, 3)) {
      const res = await s.api(`/api/v1/functions/${name}`, { method: 'PUT', json: refusal.body });
      assert.equal(res.status, 422, await res.clone().text());
      const patched = await s.api(`/api/v1/functions/${name}`, {
        method: 'PATCH',
        json: { code: refusal.body.code },
      });
      assert.equal(patched.status, 422, await patched.clone().text());
    }
    const fn = (await (await s.api(`/api/v1/functions/${name}`)).json()) as { latestVersion: number };
    assert.equal(fn.latestVersion, 1, 'latest did not move');
    const versions = (await (await s.api(`/api/v1/functions/${name}/versions`)).json()) as {
      items: unknown[];
    };
    assert.equal(versions.items.length, 1, 'the store has no new version');
    const invoked = await s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: {} });
    assert.equal(invoked.status, 200);
    assert.equal(await invoked.json(), 'v1');
  });

  it('a deploy that loads answers with a version whose first invoke is warm', {
    timeout: 600_000,
  }, async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'loads', runtime: 'python', code: 'def handler(event, context):\n    return "ok"\n' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const stats = s.server.platform.runtimes.all.find((r) => r.kind === 'container')?.stats();
    assert.equal(stats?.byVersion['loads:1'], 1, 'the deploy left a loaded container');
  });
});
