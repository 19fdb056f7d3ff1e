import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { FaaSClient } from './client.ts';
import { FaasApiError, FaasConnectionError } from './errors.ts';

describe('FaaSClient', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ url: string; auth: string | undefined }> = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.url?.startsWith('/api/v1/functions?')) {
        const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(cursor ? { items: [{ name: 'b' }] } : { items: [{ name: 'a' }], nextCursor: 'c1' }),
        );
        return;
      }
      if (req.url === '/api/v1/functions/x') {
        res.statusCode = 404;
        res.end(
          JSON.stringify({
            error: { code: 'FAAS_ERR_FUNCTION_NOT_FOUND', message: 'no x', details: { name: 'x' } },
          }),
        );
        return;
      }
      res.statusCode = 502;
      res.end('bad gateway');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('pages through functions with the bearer key', async () => {
    const client = new FaaSClient({ baseUrl: base, apiKey: 'k1' });
    const names: string[] = [];
    for await (const f of client.functions()) names.push(f.name);
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(seen.at(-1)?.auth, 'Bearer k1');
  });

  it('maps error bodies to FaasApiError, other failures too', async () => {
    const client = new FaaSClient({ baseUrl: base });
    await assert.rejects(client.getFunction('x'), (err) => {
      assert.ok(err instanceof FaasApiError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
      assert.deepEqual(err.details, { name: 'x' });
      return true;
    });
    await assert.rejects(
      client.getFunction('y'),
      (err) => err instanceof FaasApiError && err.code === 'HTTP_502',
    );
    await assert.rejects(new FaaSClient({ baseUrl: 'http://127.0.0.1:1' }).health(), FaasConnectionError);
  });

  it('refuses an idempotency key on a sync invoke, which the server would ignore', async () => {
    const client = new FaaSClient({ baseUrl: base });
    const before = seen.length;
    await assert.rejects(
      client.invoke('f', {}, { idempotencyKey: 'k' }),
      (err) =>
        err instanceof TypeError && /idempotencyKey/.test(err.message) && /invokeAsync/.test(err.message),
    );
    assert.equal(seen.length, before, 'nothing was sent');
  });
});
