import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Invocation, type LogLine, TERMINAL_STATUSES } from '@faas/core';
import { baseImageTag } from '../../packages/server/src/runtimes/container/images/base-image.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';
import { engineSkipReason } from './support.ts';

const skip = await engineSkipReason();

const LIMIT = 6 * 1024 * 1024;
type Recorded = Invocation & { logs: LogLine[] };
interface ErrorBody {
  error: { code: string; message: string; details?: { type?: string; invocationId?: string } };
}

/** Results and crashes of node, python and image functions, through the HTTP API. */
describe('container functions: bytes results, the result limit, crashes outside the handler', {
  skip,
}, () => {
  let s: TestServer;

  async function deploy(name: string, body: Record<string, unknown>): Promise<void> {
    const res = await s.api(`/api/v1/functions/${name}`, { method: 'PUT', json: body });
    assert.ok(res.status === 201 || res.status === 200, `deploy ${name}: ${await res.text()}`);
  }

  async function invoke(name: string, event: unknown = {}): Promise<Response> {
    return s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: event });
  }

  async function recorded(id: string): Promise<Recorded> {
    return waitFor(
      async () => {
        const inv = (await (await s.api(`/api/v1/invocations/${id}`)).json()) as Recorded;
        return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
      },
      60_000,
      `invocation ${id}`,
    );
  }

  before(
    async () => {
      s = await startTestServer();
      await deploy('node-bytes', {
        runtime: 'node',
        code: 'export default async (e) => Buffer.alloc(e.size ?? 3, e.fill ?? 7)',
      });
      await deploy('py-bytes', {
        runtime: 'python',
        code: 'def handler(event, context):\n    return bytes([event.get("fill", 7)]) * event.get("size", 3)\n',
      });
      await deploy('node-json', { runtime: 'node', code: "export default async (e) => 'x'.repeat(e.size)" });
      await deploy('py-json', {
        runtime: 'python',
        code: 'def handler(event, context):\n    return "x" * event["size"]\n',
      });
      await deploy('node-deep', {
        runtime: 'node',
        code: 'export default async (e) => { let v = 1; for (let i = 0; i < e.depth; i++) v = [v]; return v; }',
      });
      await deploy('image-output', {
        runtime: 'image',
        image: baseImageTag(),
        command: ['sh', '-c', 'head -c "$(cat)" /dev/zero | tr "\\0" x'],
      });
      await deploy('node-rejects', {
        runtime: 'node',
        maxRetries: 0,
        code: `export default async () => {
          console.log('before the rejection');
          Promise.reject(new Error('nobody handles this'));
          await new Promise((r) => setTimeout(r, 2000));
          return 'not reached';
        };`,
      });
      await deploy('node-timer-throws', {
        runtime: 'node',
        code: `export default async () => {
          console.log('before the timer');
          setTimeout(() => { throw new RangeError('thrown by a timer'); }, 10);
          await new Promise((r) => setTimeout(r, 2000));
          return 'not reached';
        };`,
      });
      await deploy('py-thread-raises', {
        runtime: 'python',
        code: [
          'import threading, time',
          'def boom():',
          '    raise RuntimeError("raised in a thread")',
          'def handler(event, context):',
          '    print("before the thread")',
          '    threading.Thread(target=boom).start()',
          '    time.sleep(2)',
          '    return "not reached"',
        ].join('\n'),
      });
    },
    { timeout: 900_000 },
  );

  after(() => s?.close());

  for (const name of ['node-bytes', 'py-bytes']) {
    it(`${name}: bytes come back as bytes, and are recorded base64-encoded`, async () => {
      const res = await invoke(name, { size: 3, fill: 7 });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [7, 7, 7]);
      const inv = await recorded(res.headers.get('x-invocation-id') ?? '');
      assert.deepEqual(inv.result, { isBase64Encoded: true, body: 'BwcH' });
    });

    it(`${name}: bytes at the 6 MiB limit come back; one more fails saying the limit`, async () => {
      const at = await invoke(name, { size: LIMIT });
      assert.equal(at.status, 200, (await at.clone().text()).slice(0, 300));
      assert.equal((await at.arrayBuffer()).byteLength, LIMIT);
      const over = await invoke(name, { size: LIMIT + 1 });
      assert.equal(over.status, 500, (await over.clone().text()).slice(0, 300));
      const body = (await over.json()) as ErrorBody;
      assert.equal(body.error.details?.type, 'InvalidResult');
      assert.match(
        body.error.message,
        new RegExp(`too large: ${LIMIT + 1} bytes, the limit is ${LIMIT} bytes`),
      );
      // The container stays: the next call is served.
      assert.equal((await invoke(name, {})).status, 200);
    });
  }

  for (const name of ['node-json', 'py-json']) {
    it(`${name}: a JSON result past 6 MiB fails saying the limit, as in the isolate runtime`, async () => {
      const over = await invoke(name, { size: LIMIT });
      assert.equal(over.status, 500, (await over.clone().text()).slice(0, 300));
      const body = (await over.json()) as ErrorBody;
      assert.equal(body.error.details?.type, 'InvalidResult');
      assert.match(
        body.error.message,
        new RegExp(`too large: ${LIMIT + 2} bytes of JSON, the limit is ${LIMIT} bytes`),
      );
      const under = await invoke(name, { size: 1000 });
      assert.equal(under.status, 200);
      assert.equal(((await under.json()) as string).length, 1000);
    });
  }

  it('node-deep: a result nested deeper than the host writes out fails cleanly; the container stays', async () => {
    const deep = await invoke('node-deep', { depth: 1500 });
    assert.equal(deep.status, 500, (await deep.clone().text()).slice(0, 300));
    const body = (await deep.json()) as ErrorBody;
    assert.equal(body.error.details?.type, 'InvalidResult');
    assert.match(body.error.message, /nests deeper than 1000 levels/);
    const ok = await invoke('node-deep', { depth: 900 });
    assert.equal(ok.status, 200);
  });

  it('an image function whose output passes 6 MiB fails saying the limit', async () => {
    const over = await s.api('/api/v1/functions/image-output/invoke', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: String(LIMIT + 1),
    });
    assert.equal(over.status, 500, (await over.clone().text()).slice(0, 300));
    const body = (await over.json()) as ErrorBody;
    assert.equal(body.error.details?.type, 'InvalidResult');
    assert.match(body.error.message, new RegExp(`the limit is ${LIMIT} bytes`));
  });

  const crashes = [
    { name: 'node-rejects', type: 'Error', message: 'nobody handles this', log: 'before the rejection' },
    { name: 'node-timer-throws', type: 'RangeError', message: 'thrown by a timer', log: 'before the timer' },
    {
      name: 'py-thread-raises',
      type: 'RuntimeError',
      message: 'raised in a thread',
      log: 'before the thread',
    },
  ];
  for (const c of crashes) {
    it(`${c.name}: a crash outside the handler fails the invocation with its error, logs kept`, async () => {
      const res = await invoke(c.name);
      assert.equal(res.status, 500, (await res.clone().text()).slice(0, 300));
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR');
      assert.equal(body.error.details?.type, c.type);
      assert.equal(body.error.message, c.message);
      const inv = await recorded(body.error.details?.invocationId ?? '');
      assert.equal(inv.status, 'failed');
      assert.ok(
        inv.logs.some((l) => l.message === c.log),
        JSON.stringify(inv.logs),
      );
      // The crashed container is gone; the next call gets a new one.
      const again = await invoke(c.name);
      assert.equal(((await again.json()) as ErrorBody).error.details?.type, c.type);
    });
  }

  it('an async invocation whose function crashes records its error and logs, not a lost lease', async () => {
    const res = await s.api('/api/v1/functions/node-rejects/invoke?async=true', { method: 'POST', json: {} });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const inv = await recorded(invocationId);
    assert.equal(inv.attempts, 1);
    assert.equal(inv.error?.type, 'Error');
    assert.equal(inv.error?.message, 'nobody handles this');
    assert.ok(inv.logs.some((l) => l.message === 'before the rejection'));
  });
});
