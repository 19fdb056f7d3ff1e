import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collectKeptTrees, useKeptTree } from './kept-trees.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-kept-trees-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dayAgo = new Date(Date.now() - 86_400_000);

function tree(name: string, options: { whole: boolean; old: boolean }): void {
  mkdirSync(join(root, name, 'lib'), { recursive: true });
  writeFileSync(join(root, name, 'lib', 'index.js'), name);
  if (options.whole) writeFileSync(join(root, `${name}.complete`), '');
  if (options.old) utimesSync(join(root, options.whole ? `${name}.complete` : name), dayAgo, dayAgo);
}

describe('kept trees', () => {
  it('removes the trees unused since the cut-off and stale half-made ones; keeps used, busy and unmarked ones', async () => {
    tree('npm-unused', { whole: true, old: true });
    tree('npm-used', { whole: true, old: true });
    tree('npm-busy', { whole: true, old: true });
    tree('npm-young', { whole: true, old: false });
    tree('npm-unmarked', { whole: false, old: true });
    tree('.npm-crashed.1a2b.partial', { whole: false, old: true });
    tree('.npm-making.3c4d.partial', { whole: false, old: false });
    assert.equal(await useKeptTree(join(root, 'npm-used')), true);
    assert.ok(statSync(join(root, 'npm-used.complete')).mtimeMs > dayAgo.getTime() + 60_000, 'renewed');
    assert.equal(await useKeptTree(join(root, 'npm-unmarked')), false, 'not whole');

    const removed = await collectKeptTrees(root, Date.now() - 3_600_000, (name) => name === 'npm-busy');

    assert.equal(removed, 1);
    for (const gone of ['npm-unused', 'npm-unused.complete', '.npm-crashed.1a2b.partial']) {
      assert.equal(existsSync(join(root, gone)), false, gone);
    }
    for (const kept of ['npm-used', 'npm-busy', 'npm-young', 'npm-unmarked', '.npm-making.3c4d.partial']) {
      assert.equal(existsSync(join(root, kept)), true, kept);
    }
    assert.equal(await collectKeptTrees(join(root, 'never-made'), Date.now(), () => false), 0);
  });
});
