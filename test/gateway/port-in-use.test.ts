import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { spawnServer, startTestServer, tempDataDir } from '../support/server.ts';

/** A port free right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('a port another server holds', () => {
  it('is refused with "address in use", though the gateway threads share their own with SO_REUSEPORT', async () => {
    const port = await freePort();
    const firstDir = tempDataDir();
    const first = await spawnServer(firstDir, { FAAS_GATEWAY_THREADS: '2' }, ['--port', String(port)]);
    try {
      await assert.rejects(
        startTestServer({ port, gatewayThreads: 2 }),
        /EADDRINUSE: address already in use/,
      );
      // The first server still has the whole port: every connection reaches it.
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/health`, { headers: { connection: 'close' } });
        assert.equal(res.status, 200);
      }
    } finally {
      await first.kill('SIGTERM');
      rmSync(firstDir, { recursive: true, force: true });
    }
  });

  it('makes a second server process exit with the error, leaving the first one serving', async () => {
    const port = await freePort();
    const first = await startTestServer({ port, gatewayThreads: 2 });
    const dir = tempDataDir();
    try {
      await assert.rejects(
        spawnServer(dir, { FAAS_GATEWAY_THREADS: '2' }, ['--port', String(port)]),
        /EADDRINUSE: address already in use/,
      );
      assert.equal((await fetch(`${first.url}/health`)).status, 200);
    } finally {
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
