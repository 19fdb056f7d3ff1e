import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnServer, tempDataDir, waitFor } from '../support/server.ts';

describe('a promise that fails with nobody waiting on it, in the server process', () => {
  it('is printed with its stack, and the server goes on serving', async () => {
    const dataDir = tempDataDir();
    // Loaded before the server (NODE_OPTIONS --import), acting in its main thread only: a stray
    // rejection once it listens, as a bug in some background path would make.
    const stray = join(dataDir, '..', `stray-${process.pid}.mjs`);
    writeFileSync(
      stray,
      `import { isMainThread } from 'node:worker_threads';
      if (isMainThread && process.argv[1]?.endsWith('main.ts')) {
        const write = process.stdout.write.bind(process.stdout);
        process.stdout.write = (chunk, ...rest) => {
          if (String(chunk).includes('listening on'))
            setTimeout(() => { Promise.reject(new Error('stray-rejection-marker')); }, 100);
          return write(chunk, ...rest);
        };
      }`,
    );
    const server = await spawnServer(dataDir, { NODE_OPTIONS: `--import ${stray}` });
    try {
      await waitFor(async () => (server.output().includes('stray-rejection-marker') ? true : undefined));
      assert.match(server.output(), /nobody waiting on it/);
      assert.equal(server.child.exitCode, null);
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(stray, { force: true });
    }
  });
});
