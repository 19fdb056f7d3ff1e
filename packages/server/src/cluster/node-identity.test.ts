import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeIdentity } from './node-identity.ts';

describe('nodeIdentity', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'faas-node-id-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is made once per data dir and kept across restarts', () => {
    const a = dir();
    const first = nodeIdentity(a);
    assert.match(first, /^node_[a-z0-9]{20}$/);
    assert.equal(nodeIdentity(a), first);
    assert.notEqual(nodeIdentity(dir()), first);
  });

  it('refuses a file it did not write instead of replacing it', () => {
    const a = dir();
    writeFileSync(join(a, 'node-id'), '../../etc/passwd\n');
    assert.throws(() => nodeIdentity(a), /does not hold a node id/);
  });
});
