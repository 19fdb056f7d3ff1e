// A server whose blobs are in S3 (FAAS_OBJECT_STORE_URL) while the store and queue are embedded:
// what it does when S3 goes away while it runs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestS3, type TestS3 } from '../../packages/server/src/blobs/s3/test-support.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('a server on S3 blobs when S3 goes away', () => {
  let s3: TestS3;
  let s: TestServer;
  before(async () => {
    // A server of its own: this test stops it.
    s3 = await startTestS3({ private: true });
    // The server's S3 client reads credentials as the AWS SDK does: from the environment.
    Object.assign(process.env, s3.env);
    s = await startTestServer({
      objectStoreUrl: `s3://${s3.bucket}/gone/${randomUUID()}`,
      s3Endpoint: s3.endpoint,
    });
  });
  after(async () => {
    await s?.close();
    await s3?.close();
  });

  it('/ready reports blobs failing, deploys get 503, and warm code still runs from the local cache', async () => {
    const ready = async () => {
      const res = await s.api('/ready');
      return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
    };
    assert.equal((await ready()).body.checks.blobs, 'ok');
    const created = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'warm', runtime: 'js', code: 'export default (e) => e.n + 1' },
    });
    assert.equal(created.status, 201, await created.clone().text());

    await s3.close();
    const down = await ready();
    assert.equal(down.status, 503);
    assert.match(
      down.body.checks.blobs ?? '',
      /^failing \(FAAS_ERR_STORAGE_UNAVAILABLE\): The blob store's S3 /,
    );
    assert.equal(down.body.checks.store, 'ok');

    const refused = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'cold', runtime: 'js', code: 'export default () => 0' },
    });
    assert.equal(refused.status, 503, await refused.clone().text());
    assert.equal(
      ((await refused.json()) as { error: { code: string } }).error.code,
      'FAAS_ERR_STORAGE_UNAVAILABLE',
    );

    const invoked = await s.api('/api/v1/functions/warm/invoke', { method: 'POST', json: { n: 41 } });
    assert.equal(invoked.status, 200, await invoked.clone().text());
    assert.equal(await invoked.json(), 42);
  });
});
