import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { baseImageTag } from '../../packages/server/src/runtimes/container/images/base-image.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { engineSkipReason } from './support.ts';

const skip = await engineSkipReason();

const reverse = (v: string) => [...v].reverse().join('');

/**
 * Issue 19: a function sees the secrets it names as env in every container runtime, and a new
 * value reaches the next call (a warm container made with the old env is not reused). Each
 * function answers the value reversed: the value itself would be replaced by [secret].
 */
describe('secrets as env in container functions', { skip }, () => {
  let s: TestServer;
  const deploy = async (name: string, body: Record<string, unknown>) => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name, secrets: ['DB_PASSWORD'], env: { DB_PASSWORD: 'plain-env-loses' }, ...body },
    });
    assert.equal(res.status, 201, await res.clone().text());
  };
  const invoke = async (name: string) => {
    const res = await s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: {} });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return text;
  };

  before(
    async () => {
      s = await startTestServer();
      const set = await s.api('/api/v1/secrets/DB_PASSWORD', {
        method: 'PUT',
        json: { value: 'container-first' },
      });
      assert.equal(set.status, 201);
      await deploy('secret-node', {
        runtime: 'node',
        code: {
          files: { 'index.mjs': 'export default () => [...process.env.DB_PASSWORD].reverse().join("")' },
        },
      });
      await deploy('secret-python', {
        runtime: 'python',
        code: {
          files: {
            'main.py':
              'import os\ndef handler(event, context):\n    return os.environ["DB_PASSWORD"][::-1]\n',
          },
        },
      });
      await deploy('secret-image', {
        runtime: 'image',
        image: baseImageTag(),
        command: ['sh', '-c', 'printf %s "$DB_PASSWORD" | rev'],
      });
    },
    { timeout: 900_000 },
  );
  after(() => s?.close());

  it('node, python and image functions see the value, and the next value after a change', {
    timeout: 300_000,
  }, async () => {
    assert.equal(JSON.parse(await invoke('secret-node')), reverse('container-first'));
    assert.equal(JSON.parse(await invoke('secret-python')), reverse('container-first'));
    assert.match(await invoke('secret-image'), new RegExp(reverse('container-first')));
    const set = await s.api('/api/v1/secrets/DB_PASSWORD', {
      method: 'PUT',
      json: { value: 'container-second' },
    });
    assert.equal(set.status, 200);
    assert.equal(JSON.parse(await invoke('secret-node')), reverse('container-second'));
    assert.equal(JSON.parse(await invoke('secret-python')), reverse('container-second'));
    assert.match(await invoke('secret-image'), new RegExp(reverse('container-second')));
  });
});

/**
 * An image function's output reaches the platform one log line per line of text, so a multi-line
 * value (a PEM key) printed whole arrives in pieces: each of its lines is hidden.
 */
describe('a multi-line secret printed by an image function', { skip }, () => {
  let s: TestServer;
  const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';
  before(async () => {
    s = await startTestServer();
    const value = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
    const set = await s.api('/api/v1/secrets/PRIVATE_KEY', { method: 'PUT', json: { value } });
    assert.equal(set.status, 201);
  });
  after(() => s?.close());

  it('stores none of its lines', { timeout: 300_000 }, async () => {
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'pem-image',
        runtime: 'image',
        image: baseImageTag(),
        secrets: ['PRIVATE_KEY'],
        command: ['sh', '-c', 'printf "%s" "$PRIVATE_KEY" >&2; echo ok'],
      },
    });
    assert.equal(made.status, 201, await made.text());
    const res = await s.api('/api/v1/functions/pem-image/invoke', { method: 'POST', json: {} });
    assert.equal(res.status, 200, await res.clone().text());
    const record = await (await s.api(`/api/v1/invocations/${res.headers.get('x-invocation-id')}`)).text();
    assert.ok(!record.includes(body), record);
    assert.match(record, /"message":"\[secret\]"/);
  });
});
