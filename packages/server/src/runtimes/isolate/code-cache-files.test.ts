import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { codeCacheFile, collectCodeCaches } from './code-cache-files.ts';

const sha = (c: string) => c.repeat(64);

describe('collectCodeCaches', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-code-caches-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('removes old caches of artifacts nothing names and old staged writes; keeps the named, the young and the rest', async () => {
    const dayAgo = new Date(Date.now() - 86_400_000);
    const write = (file: string, old: boolean) => {
      writeFileSync(join(dir, file), 'x');
      if (old) utimesSync(join(dir, file), dayAgo, dayAgo);
    };
    const file = (s: string) => codeCacheFile(s) as string;
    write(file(sha('a')), true); // named
    write(file(sha('b')), true); // unnamed, old: goes
    write(file(sha('c')), false); // unnamed, but a deploy may be recording it
    write(`${sha('d')}.v8-1.2.3.cache`, true); // another V8's, unnamed, old: goes
    write('.0b5e4c5a.tmp', true); // a write a killed host left
    write('.9f1d2e3b.tmp', false); // a write under way
    write('notes.txt', true);
    const asked: string[][] = [];
    const removed = await collectCodeCaches(
      dir,
      async (shas) => {
        asked.push([...shas]);
        return new Set(shas.filter((s) => s === sha('a')));
      },
      Date.now() - 3_600_000,
    );
    assert.equal(removed, 2);
    assert.deepEqual(asked.flat().sort(), [sha('a'), sha('b'), sha('d')]);
    assert.deepEqual(
      readdirSync(dir).sort(),
      ['.9f1d2e3b.tmp', file(sha('a')), file(sha('c')), 'notes.txt'].sort(),
    );
  });

  it('a folder not made yet has nothing to collect', async () => {
    assert.equal(await collectCodeCaches(join(dir, 'absent'), async () => new Set(), Date.now()), 0);
  });

  it('names a cache only for a sha256', () => {
    assert.equal(codeCacheFile('../x'), undefined);
    assert.match(codeCacheFile(sha('e')) ?? '', /^e{64}\.v8-.+\.cache$/);
  });
});
