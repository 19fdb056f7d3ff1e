import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
  'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN',
  '-----END PRIVATE KEY-----',
].join('\n');
/** Quotes and a backslash get escaped, `@`, `/` and `:` URL-encoded; the core is kept by both. */
const PASSWORD = `it's "a" p@ss/w:rd\\uniquecore4242`;
/** What shows that a value got out, in whatever form. */
const NEEDLES = ['MIIEvQIBADANBgkqhkiG9w0B', 'abcdefghijklmnopqrstuvwxyz', 'uniquecore4242'];

const FUNCTIONS = {
  'pem-inspect': 'export default () => { console.log({ key: process.env.PRIVATE_KEY }); return "ok" }',
  'pem-json-log':
    'export default () => { console.log(JSON.stringify({ key: process.env.PRIVATE_KEY })); return "ok" }',
  'pem-json-result': 'export default () => JSON.stringify({ key: process.env.PRIVATE_KEY })',
  'pem-group':
    'export default () => { console.group("config"); console.log(process.env.PRIVATE_KEY); return "ok" }',
  'password-url': `export default () => {
    const url = new URL('postgres://db:5432/app');
    url.username = 'app';
    url.password = process.env.DB_PASSWORD;
    console.log('connecting to', url.href);
    return { dsn: 'postgres://app:' + encodeURIComponent(process.env.DB_PASSWORD) + '@db/app' };
  }`,
  'password-escaped': `export default () => {
    console.log({ password: process.env.DB_PASSWORD });
    console.error(JSON.stringify({ password: process.env.DB_PASSWORD }));
    return JSON.stringify({ password: process.env.DB_PASSWORD });
  }`,
};

/**
 * A secret's value gets out of a function escaped, encoded or line by line far more often than as
 * it is: each such form is hidden in the sync answer, the stored result (sync and async) and the
 * stored log lines, which invokers and viewers read.
 */
describe('secret values in escaped, encoded and multi-line forms', () => {
  let s: TestServer;
  const text = async (path: string, init?: RequestInit & { json?: unknown }) => {
    const res = await s.api(path, init);
    const body = await res.text();
    assert.ok(res.status < 300, `${path}: ${res.status} ${body}`);
    return { body, id: res.headers.get('x-invocation-id') };
  };

  before(async () => {
    s = await startTestServer();
    await text('/api/v1/secrets/PRIVATE_KEY', { method: 'PUT', json: { value: PEM } });
    await text('/api/v1/secrets/DB_PASSWORD', { method: 'PUT', json: { value: PASSWORD } });
    for (const [name, code] of Object.entries(FUNCTIONS)) {
      await text('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', secrets: ['PRIVATE_KEY', 'DB_PASSWORD'], maxRetries: 0, code },
      });
    }
  });
  after(() => s?.close());

  for (const name of Object.keys(FUNCTIONS)) {
    it(`${name}: the answer, result and logs hide the value`, async () => {
      const sync = await text(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: {} });
      const queued = await text(`/api/v1/functions/${name}/invoke?async=true`, { method: 'POST', json: {} });
      const asyncId = (JSON.parse(queued.body) as { invocationId: string }).invocationId;
      const records = [
        await text(`/api/v1/invocations/${sync.id}`),
        await waitFor(async () => {
          const got = await text(`/api/v1/invocations/${asyncId}`);
          return (JSON.parse(got.body) as { status: string }).status === 'succeeded' ? got : undefined;
        }),
      ];
      const seen = [sync.body, ...records.map((r) => r.body)].join('\n');
      for (const needle of NEEDLES) {
        const at = seen.indexOf(needle);
        assert.equal(at, -1, `${needle} got out: ${seen.slice(Math.max(0, at - 200), at + 100)}`);
      }
      // The function did hand the value back: it shows as hidden.
      assert.match(seen, /\[secret\]/);
    });
  }
});
