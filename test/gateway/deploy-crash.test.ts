// A deploy answered 201 is whole: invocable at once on every gateway thread, and still there, with
// its code, after the server is killed (SIGKILL) right after the answer. Issue 12 made deploys
// cheaper; this holds whatever moves in the deploy path.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { once } from '../support/own-connection.ts';
import { spawnServer, tempDataDir } from '../support/server.ts';

const COUNT = 12;
const codeOf = (i: number) => `export default (e) => ({ id: ${i}, n: e.n })`;

describe('a deploy answered 201', () => {
  const dataDir = tempDataDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is invocable at once on every gateway thread, and survives SIGKILL right after the answer', async () => {
    const first = await spawnServer(dataDir, { FAAS_GATEWAY_THREADS: '2' });
    try {
      for (let i = 0; i < COUNT; i++) {
        const deployed = await once(first.url, 'POST', '/api/v1/functions', {
          body: { name: `fn-${i}`, runtime: 'js', code: codeOf(i) },
        });
        assert.equal(deployed.status, 201, deployed.body);
        if (i === COUNT - 1) break; // The last one: killed right after its answer, below.
        // Four calls, each on a connection of its own, which the kernel spreads over both threads.
        for (let n = 0; n < 4; n++) {
          const invoked = await once(first.url, 'POST', `/api/v1/functions/fn-${i}/invoke`, { body: { n } });
          assert.equal(invoked.status, 200, invoked.body);
          assert.deepEqual(JSON.parse(invoked.body), { id: i, n });
        }
      }
    } finally {
      await first.kill('SIGKILL');
    }

    const second = await spawnServer(dataDir, { FAAS_GATEWAY_THREADS: '2' });
    try {
      for (let i = 0; i < COUNT; i++) {
        const invoked = await once(second.url, 'POST', `/api/v1/functions/fn-${i}/invoke`, {
          body: { n: i },
        });
        assert.equal(invoked.status, 200, invoked.body);
        assert.deepEqual(JSON.parse(invoked.body), { id: i, n: i });
        // The source tar too: what a rollback or the console's editor reads.
        const source = await once(second.url, 'GET', `/api/v1/functions/fn-${i}/versions/1/code`);
        assert.equal(source.status, 200, source.body.slice(0, 200));
        assert.ok(source.body.includes(codeOf(i)), 'the stored source is the deployed code');
      }
    } finally {
      await second.kill('SIGTERM');
    }
  });
});
