import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmallBlobWriter } from './small-blob-writer.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-small-blobs-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('SmallBlobWriter', () => {
  it('writes into folders it makes, ends its thread when idle, and starts another for the next write', async () => {
    const staging = join(root, 'staging');
    mkdirSync(staging);
    const writer = new SmallBlobWriter({ idleExitMs: 50 });
    await writer.write(join(staging, 'one'), join(root, 'ab', 'one.zst'), Buffer.from('one'));
    assert.equal(readFileSync(join(root, 'ab', 'one.zst'), 'utf8'), 'one');
    assert.equal(writer.running, true);
    await sleep(300);
    assert.equal(writer.running, false, 'an idle thread ended');
    await writer.write(join(staging, 'two'), join(root, 'cd', 'two.zst'), Buffer.from('two'));
    assert.equal(readFileSync(join(root, 'cd', 'two.zst'), 'utf8'), 'two');
    assert.deepEqual(readdirSync(staging), []);
    await writer.close();
    assert.equal(writer.running, false);
    await assert.rejects(
      writer.write(join(staging, 'three'), join(root, 'three.zst'), Buffer.from('3')),
      /closed/,
    );
  });

  it('fails a write with the error code the file system gave, and leaves no staged file', async () => {
    const staging = join(root, 'staging-2');
    mkdirSync(staging);
    const writer = new SmallBlobWriter();
    try {
      // The target's folder cannot be made: a file is in the way.
      await writer.write(join(staging, 'a'), join(root, 'plain'), Buffer.from('a'));
      await assert.rejects(
        writer.write(join(staging, 'b'), join(root, 'plain', 'b.zst'), Buffer.from('b')),
        (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR' || err.code === 'EEXIST',
      );
      assert.deepEqual(readdirSync(staging), []);
      // The thread lives on for the next write.
      await writer.write(join(staging, 'c'), join(root, 'ef', 'c.zst'), Buffer.from('c'));
      assert.equal(readFileSync(join(root, 'ef', 'c.zst'), 'utf8'), 'c');
    } finally {
      await writer.close();
    }
  });
});
