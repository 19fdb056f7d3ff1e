import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import { linkFolder, tarFolderStream, untarStream } from './folder-tar.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-folder-tar-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `d${++n}`);

function sampleFolder(): string {
  const dir = fresh();
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'a.img'), Buffer.alloc(3 * 1024 * 1024, 7));
  writeFileSync(join(dir, 'sub', 'b.json'), '{"b":1}');
  writeFileSync(join(dir, 'empty'), '');
  return dir;
}

const listing = (dir: string) =>
  (readdirSync(dir, { recursive: true }) as string[])
    .sort()
    .map((name) => [
      name,
      statSync(join(dir, name)).isFile()
        ? readFileSync(join(dir, name)).toString('base64').slice(0, 40)
        : 'dir',
    ]);

describe('folder tar streams', () => {
  it('round-trips a checkpoint folder through a stream', async () => {
    const from = sampleFolder();
    const to = fresh();
    await untarStream(tarFolderStream(from), to);
    assert.deepEqual(listing(to), listing(from));
  });

  it('fails when the source stream fails (a blob whose hash does not match)', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('sha256 mismatch'));
      },
    });
    await assert.rejects(untarStream(broken, fresh()), /sha256 mismatch/);
  });

  it('skips entries that would leave the folder, and anything but files', async () => {
    const archive = pack();
    archive.entry({ name: '../escape', size: 1 }, 'x');
    archive.entry({ name: '/abs', size: 1 }, 'x');
    archive.entry({ name: 'link', type: 'symlink', linkname: '/etc/passwd' });
    archive.entry({ name: 'ok', size: 2 }, 'ok');
    archive.finalize();
    const to = fresh();
    await untarStream(Readable.from(archive), to);
    assert.deepEqual(readdirSync(to), ['ok']);
    assert.deepEqual(
      readdirSync(root).filter((name) => name === 'escape'),
      [],
    );
  });

  it('links a folder’s files into another', async () => {
    const from = sampleFolder();
    const to = fresh();
    await linkFolder(from, to);
    assert.deepEqual(listing(to), listing(from));
  });
});
