import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WalCheckpointer } from './wal-checkpointer.ts';

describe('WalCheckpointer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-checkpointer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ends its thread when checkpoints keep failing, so the caller checkpoints again itself', {
    timeout: 20_000,
  }, async () => {
    // Not a database: every checkpoint fails.
    const path = join(dir, 'not-a-database');
    writeFileSync(path, 'x'.repeat(4096));
    const errors: unknown[] = [];
    const lost = new Promise<void>((resolve) => {
      new WalCheckpointer(path, {
        intervalMs: 5,
        busyTimeoutMs: 100,
        onError: (err) => errors.push(err),
        onLost: resolve,
      });
    });
    await lost;
    assert.ok(errors.length >= 10, `${errors.length} failures reported`);
  });

  it('stops a thread that ended already at once', { timeout: 20_000 }, async () => {
    const path = join(dir, 'also-not-a-database');
    writeFileSync(path, 'x'.repeat(4096));
    let checkpointer: WalCheckpointer | undefined;
    await new Promise<void>((resolve) => {
      checkpointer = new WalCheckpointer(path, {
        intervalMs: 5,
        busyTimeoutMs: 100,
        onError: () => undefined,
        onLost: resolve,
      });
    });
    await checkpointer?.stop();
  });
});
