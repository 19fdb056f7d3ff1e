import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ownedContainers, removeContainers } from '../support/engine.ts';
import { request, type ServerProcess, spawnServer, tempDataDir } from '../support/server.ts';
import { engineSkipReason } from './support.ts';

const skip = await engineSkipReason();

/** The reproduction: the function finds its agent's socket and writes a log line whose message is a number. */
const NODE_REPRO = `export default async () => {
  const socket = process._getActiveHandles().find((h) =>
    h && h.constructor && h.constructor.name === 'Socket' && h !== process.stdout && h !== process.stderr && h.writable);
  socket.write('{"t":"log","id":null,"level":"info","message":12345}\\n');
  await new Promise((r) => setTimeout(r, 200));
  return 'wrote';
};`;

const PYTHON_REPRO = `import gc, os, socket, time
def handler(event, context):
    line = b'{"t":"log","id":null,"level":"info","message":12345}\\n'
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket):
            try:
                obj.sendall(line)
            except OSError:
                pass
    for fd in range(3, 64):
        try:
            os.write(fd, line)
        except OSError:
            pass
    time.sleep(0.2)
    return "wrote"
`;

/** Writes `payload` (base64) `times` times to every writable handle the function's process has. */
const NODE_WRITER = `export default async (event) => {
  const payload = Buffer.from(event.payload, 'base64');
  let reached = 0;
  for (const h of process._getActiveHandles()) {
    if (h === process.stdout || h === process.stderr || !h || typeof h.write !== 'function' || !h.writable) continue;
    for (let i = 0; i < event.times; i++) h.write(payload);
    reached += 1;
  }
  await new Promise((r) => setTimeout(r, 300));
  return { reached };
};`;

const HEALTHY = 'export default async (e) => ({ ok: true, n: e.n })';

const line = (text: string) => Buffer.from(`${text}\n`).toString('base64');
const ABUSE: Array<{ name: string; payload: string; times: number }> = [
  {
    name: 'garbage bytes',
    payload: Buffer.from([0x00, 0xff, 0xfe, 0x7b, 0x0a]).toString('base64'),
    times: 1,
  },
  { name: 'a line that is not JSON', payload: line('hello, host'), times: 1 },
  { name: 'JSON of the wrong shape', payload: line('{"t":"result"}'), times: 1 },
  { name: 'a JSON array', payload: line('[1,2,3]'), times: 1 },
  {
    name: 'a result claiming another invocation id',
    payload: line('{"t":"result","id":"inv_someone_else","ok":true,"value":"forged"}'),
    times: 1,
  },
  { name: 'an unknown message type', payload: line('{"t":"load","dir":"/","handler":"x"}'), times: 1 },
  // 64 KiB × 160 = 10 MiB without a newline: past any message's size.
  {
    name: 'a huge line without a newline',
    payload: Buffer.alloc(64 * 1024, 'x').toString('base64'),
    times: 160,
  },
];

interface ErrorBody {
  error: { code: string; message: string; details?: { type?: string; invocationId?: string } };
}

describe('a function cannot crash or wedge the server through its agent channel', { skip }, () => {
  let server: ServerProcess;
  const dataDir = tempDataDir();
  const api = (path: string, init?: Parameters<typeof request>[2]) => request(server.url, path, init);

  async function deploy(
    name: string,
    runtime: string,
    code: string,
    handler?: string,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const res = await api(`/api/v1/functions/${name}`, {
      method: 'PUT',
      json: { runtime, code, ...(handler ? { handler } : {}), ...extra },
    });
    assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${await res.text()}`);
  }

  /** The server is up, and another function still answers. */
  async function assertServerServes(): Promise<void> {
    assert.equal(server.child.exitCode, null, `the server exited:\n${server.output().slice(-2000)}`);
    const health = await api('/health', { key: null });
    assert.equal(health.status, 200);
    const res = await api('/api/v1/functions/healthy/invoke', { method: 'POST', json: { n: 7 } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { ok: true, n: 7 });
  }

  /** A server that an earlier case crashed is started again (same data dir), so each case stands alone. */
  async function ensureServer(): Promise<void> {
    try {
      if ((await api('/health', { key: null })).ok) return;
    } catch {
      // Not answering: it crashed.
    }
    await server.kill();
    server = await spawnServer(dataDir);
  }

  before(
    async () => {
      server = await spawnServer(dataDir);
      await deploy('healthy', 'node', HEALTHY);
      // Public: one case calls its trigger without a key.
      await deploy('node-repro', 'node', NODE_REPRO, undefined, { public: true });
      await deploy('py-repro', 'python', PYTHON_REPRO, 'main.handler');
      await deploy('writer', 'node', NODE_WRITER);
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await server?.kill('SIGTERM');
    removeContainers(ownedContainers(dataDir));
  });

  it('the issue reproduction (node) through POST /invoke fails that invocation only (regression)', async () => {
    await ensureServer();
    const res = await api('/api/v1/functions/node-repro/invoke', { method: 'POST', json: {} });
    assert.equal(res.status, 500, await res.clone().text());
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR');
    assert.equal(body.error.details?.type, 'ProtocolError');
    assert.match(body.error.message, /malformed message.*log\.message is not a string/);
    const id = res.headers.get('x-invocation-id');
    const recorded = (await (await api(`/api/v1/invocations/${id}`)).json()) as { status: string };
    assert.equal(recorded.status, 'failed');
    await assertServerServes();
  });

  it('the issue reproduction (node) through anonymous GET /fn/{name} fails that invocation only (regression)', async () => {
    await ensureServer();
    const res = await api('/fn/node-repro', { key: null });
    assert.equal(res.status, 500, await res.clone().text());
    assert.equal(((await res.json()) as ErrorBody).error.details?.type, 'ProtocolError');
    await assertServerServes();
  });

  it('the issue reproduction (python, sockets found with gc) fails that invocation only (regression)', async () => {
    await ensureServer();
    const res = await api('/api/v1/functions/py-repro/invoke', { method: 'POST', json: {} });
    assert.equal(res.status, 500, await res.clone().text());
    assert.equal(((await res.json()) as ErrorBody).error.details?.type, 'ProtocolError');
    await assertServerServes();
  });

  for (const abuse of ABUSE) {
    it(`writing ${abuse.name} to every channel it reaches fails that invocation and ends its container`, async () => {
      await ensureServer();
      // Another function's invocation runs at the same time and is not disturbed.
      const [res, other] = await Promise.all([
        api('/api/v1/functions/writer/invoke', {
          method: 'POST',
          json: { payload: abuse.payload, times: abuse.times },
        }),
        api('/api/v1/functions/healthy/invoke', { method: 'POST', json: { n: 1 } }),
      ]);
      assert.equal(other.status, 200, await other.clone().text());
      assert.equal(res.status, 500, await res.clone().text());
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.details?.type, 'ProtocolError', body.error.message);
      assert.match(body.error.message, /malformed message/);
      await assertServerServes();
      // The version still works: a new container replaces the ended one.
      const again = await api('/api/v1/functions/writer/invoke', {
        method: 'POST',
        json: { payload: '', times: 0 },
      });
      assert.equal(again.status, 200, await again.clone().text());
    });
  }
});
