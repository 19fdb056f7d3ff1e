import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { Tmpfs, tmpfsSkipReason } from '@faas/testkit';
import { DataDirLock } from './data-dir-lock.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `dir-${++n}`);

const refusedWith = (code: string) => (err: unknown) => isFaasError(err) && err.code === code;

/** Another process that takes the lock, says so, and holds it until killed. */
async function holdInChild(dataDir: string) {
  const module = new URL('./data-dir-lock.ts', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { DataDirLock } from ${JSON.stringify(module)};
       DataDirLock.acquire(${JSON.stringify(dataDir)});
       console.log('held');
       setInterval(() => {}, 60_000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'held');
  return child;
}

describe('DataDirLock', () => {
  it('refuses a second holder in the same process, naming the first; free again once released', () => {
    const dir = freshDir();
    const first = DataDirLock.acquire(dir);
    assert.throws(
      () => DataDirLock.acquire(dir),
      (err: unknown) => {
        assert.ok(isFaasError(err));
        assert.equal(err.code, ErrorCode.DATA_DIR_IN_USE);
        assert.match(err.message, new RegExp(`pid ${process.pid}`));
        assert.match(err.message, /FAAS_DATA_DIR/);
        return true;
      },
    );
    first.release();
    DataDirLock.acquire(dir).release();
  });

  it('refuses while another process holds it, and not after that process is killed with SIGKILL', async () => {
    const dir = freshDir();
    const child = await holdInChild(dir);
    try {
      assert.throws(() => DataDirLock.acquire(dir), refusedWith(ErrorCode.DATA_DIR_IN_USE));
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    // The kernel dropped the dead holder's lock; its server.lock.json stays and does not matter.
    DataDirLock.acquire(dir).release();
  });

  it('refuses a data dir on a read-only file system with STORAGE_READ_ONLY', (t) => {
    const dir = freshDir();
    const skip = tmpfsSkipReason(join(root, 'probe'));
    if (skip) return t.skip(skip);
    const mount = Tmpfs.mount(dir, 1024 * 1024, { readOnly: true });
    try {
      assert.throws(() => DataDirLock.acquire(dir), refusedWith(ErrorCode.STORAGE_READ_ONLY));
    } finally {
      mount.unmount();
    }
  });
});
