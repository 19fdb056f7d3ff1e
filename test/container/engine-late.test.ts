import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, waitFor } from '../support/server.ts';

/** A socket that forwards to the real engine's: an engine that "comes up" when it starts listening. */
function engineAt(path: string): Promise<Server> {
  const server = createServer((client) => {
    const engine = connect('/var/run/docker.sock');
    client.pipe(engine).pipe(client);
    const close = () => {
      client.destroy();
      engine.destroy();
    };
    client.on('error', close);
    engine.on('error', close);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('an engine that comes up after the server', { skip: engineSkipReason() }, () => {
  it('is noticed by the server itself: container functions run without anyone asking /ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faas-late-'));
    const socket = join(dir, 'docker.sock');
    const s = await startTestServer({ dockerHost: `unix://${socket}` });
    let engine: Server | undefined;
    try {
      // No engine yet: container functions are refused (or not deployed).
      const early = await s.api('/api/v1/functions/late/invoke', { method: 'POST', json: 1 });
      assert.ok(early.status >= 400, String(early.status));
      engine = await engineAt(socket);
      const deployed = await waitFor(async () => {
        const res = await s.api('/api/v1/functions', {
          method: 'POST',
          json: { name: 'late', runtime: 'node', code: 'export default (e) => ({ late: e })' },
        });
        return res.status === 201 ? res : undefined;
      }, 20_000);
      assert.equal(deployed.status, 201);
      const answer = await waitFor(async () => {
        const res = await s.api('/api/v1/functions/late/invoke', { method: 'POST', json: 1 });
        return res.status === 200 ? res.json() : undefined;
      }, 120_000);
      assert.deepEqual(answer, { late: 1 });
    } finally {
      await s.close();
      engine?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
