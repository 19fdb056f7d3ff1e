import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { canonicalArchive, extractArchive } from './canonical-archive.ts';
import type { SourceFiles } from './source-files.ts';
import { text } from './test-support.ts';

const encode = (s: string) => new TextEncoder().encode(s);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const files = (entries: Array<[string, string]>): SourceFiles =>
  new Map(entries.map(([path, content]) => [path, encode(content)]));

const longPath = `${'deep/'.repeat(40)}file.ts`; // 205 bytes: needs ustar's prefix field
const veryLongPath = `${'a'.repeat(120)}/${'b'.repeat(120)}.ts`; // no split fits: needs PAX
const sample: Array<[string, string]> = [
  ['index.ts', 'export default () => 1\n'],
  ['lib/util.ts', 'export const x = 2\n'],
  ['empty.txt', ''],
  ['unicode/héllo.ts', 'export const é = "ü"\n'],
  [longPath, 'long'],
  [veryLongPath, 'very long'],
  ['block.bin', 'x'.repeat(512)],
];

describe('canonicalArchive', () => {
  it('gives the same bytes for the same files in any insertion order', () => {
    const a = canonicalArchive(files(sample));
    const b = canonicalArchive(files([...sample].reverse()));
    assert.equal(sha256(a), sha256(b));
    assert.deepEqual(a, b);
  });

  it('gives different bytes when a file changes or is renamed', () => {
    const base = sha256(canonicalArchive(files(sample)));
    const changed = sample.map(([p, c]): [string, string] => [p, p === 'index.ts' ? `${c} ` : c]);
    const renamed = sample.map(([p, c]): [string, string] => [p === 'index.ts' ? 'main.ts' : p, c]);
    assert.notEqual(sha256(canonicalArchive(files(changed))), base);
    assert.notEqual(sha256(canonicalArchive(files(renamed))), base);
  });

  it('round-trips through extractArchive', async () => {
    const back = await extractArchive(canonicalArchive(files(sample)));
    assert.deepEqual(text(back), Object.fromEntries(sample));
    assert.deepEqual([...back.keys()], [...back.keys()].sort());
  });

  it('round-trips an empty set (an image function without code)', async () => {
    const empty = canonicalArchive(new Map());
    assert.equal(empty.byteLength, 1024);
    assert.equal((await extractArchive(empty)).size, 0);
  });

  it('is a tar GNU tar reads: sorted names, mode 0644, owner 0, mtime 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'faas-canonical-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const tarFile = join(dir, 'code.tar');
    writeFileSync(tarFile, canonicalArchive(files(sample)));
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', tarFile], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    });
    const lines = listing.trim().split('\n');
    assert.deepEqual(
      lines.map((line) => line.split(/\s+/).slice(5).join(' ')),
      [...sample.map(([p]) => p)].sort(),
    );
    for (const line of lines) assert.match(line, /^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 /);
    const out = join(dir, 'out');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xf', tarFile, '-C', out]);
    assert.equal(readFileSync(join(out, veryLongPath), 'utf8'), 'very long');
    assert.equal(readFileSync(join(out, 'unicode/héllo.ts'), 'utf8'), 'export const é = "ü"\n');
  });
});
