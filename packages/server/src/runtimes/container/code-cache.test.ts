import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { pack } from 'tar-stream';
import { MemoryBlobStore } from '../../../../testkit/src/memory-blob-store.ts';
import { CodeCache, extractTar, linkTree } from './code-cache.ts';

async function tar(
  entries: Array<{ name: string; content?: string; type?: 'file' | 'directory' | 'symlink' }>,
) {
  const p = pack();
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: '/etc/passwd' });
    else if (e.type === 'directory') p.entry({ name: e.name, type: 'directory' });
    else p.entry({ name: e.name, mode: 0o644 }, e.content ?? '');
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('code cache', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faas-code-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('unpacks a code blob once and links it into a container folder', async () => {
    const blobs = new MemoryBlobStore();
    const { sha256 } = await blobs.put(
      await tar([
        { name: 'index.js', content: 'a' },
        { name: 'lib/x.js', content: 'b' },
      ]),
    );
    let prepared = 0;
    const cache = new CodeCache(join(dir, 'code'), blobs, async () => {
      prepared += 1;
    });
    const origin = { project: 'default', codeSha256: sha256 };
    const [first, second] = await Promise.all([cache.unpacked(origin), cache.unpacked(origin)]);
    assert.equal(first, second);
    assert.equal(prepared, 1);
    assert.equal(await readFile(join(first, 'lib/x.js'), 'utf8'), 'b');
    await linkTree(first, join(dir, 'slot', 'code'));
    const linked = await stat(join(dir, 'slot', 'code', 'index.js'));
    assert.equal(linked.ino, (await stat(join(first, 'index.js'))).ino, 'a hard link, not a copy');
  });

  it('unpacks and prepares a blob once per project: what is installed into it is not shared', async () => {
    const blobs = new MemoryBlobStore();
    const { sha256 } = await blobs.put(await tar([{ name: 'index.js', content: 'a' }]));
    const prepared: string[] = [];
    const cache = new CodeCache(join(dir, 'projects'), blobs, async (_dir, origin) => {
      prepared.push(origin.project);
    });
    const a = await cache.unpacked({ project: 'proja', codeSha256: sha256 });
    const b = await cache.unpacked({ project: 'projb', codeSha256: sha256 });
    assert.notEqual(a, b);
    assert.equal(await cache.unpacked({ project: 'proja', codeSha256: sha256 }), a);
    assert.deepEqual(prepared, ['proja', 'projb']);
  });

  it('refuses archives with paths outside their root and skips links', async () => {
    await assert.rejects(
      extractTar(await tar([{ name: '../escape.js', content: 'x' }]), join(dir, 'bad')),
      (err: { code?: string }) => err.code === ErrorCode.INVALID_ARCHIVE,
    );
    await extractTar(
      await tar([
        { name: 'link', type: 'symlink' },
        { name: 'ok.js', content: '1' },
      ]),
      join(dir, 'links'),
    );
    await assert.rejects(stat(join(dir, 'links', 'link')));
    assert.equal(await readFile(join(dir, 'links', 'ok.js'), 'utf8'), '1');
  });

  it('fails with INVALID_ARCHIVE when the blob is missing', async () => {
    const cache = new CodeCache(join(dir, 'missing'), new MemoryBlobStore());
    await assert.rejects(
      cache.unpacked({ project: 'default', codeSha256: '0'.repeat(64) }),
      (err: { code?: string }) => err.code === ErrorCode.INVALID_ARCHIVE,
    );
  });

  it('collects the folders of code no version names once old, and unpacks that code again when asked', async () => {
    const blobs = new MemoryBlobStore();
    const put = async (content: string) =>
      (await blobs.put(await tar([{ name: 'index.js', content }]))).sha256;
    const [named, unnamed, young] = [await put('named'), await put('unnamed'), await put('young')];
    let prepared = 0;
    const cache = new CodeCache(join(dir, 'collected'), blobs, async () => {
      prepared += 1;
    });
    const folder = async (sha: string) => cache.unpacked({ project: 'default', codeSha256: sha });
    const dayAgo = new Date(Date.now() - 86_400_000);
    for (const sha of [named, unnamed]) {
      const unpacked = await folder(sha);
      await utimes(join(unpacked, '.complete'), dayAgo, dayAgo);
    }
    await folder(young);
    const crashed = join(dir, 'collected', 'default', `${unnamed}.123.456.partial`);
    await mkdir(crashed, { recursive: true });
    await utimes(crashed, dayAgo, dayAgo);

    const asked: string[] = [];
    const removed = await cache.collect(async (shas) => {
      asked.push(...shas);
      return new Set(shas.filter((sha) => sha === named));
    }, Date.now() - 3_600_000);

    assert.equal(removed, 1);
    assert.deepEqual(asked.sort(), [named, unnamed].sort(), 'only old folders are asked about');
    assert.equal(await exists(join(dir, 'collected', 'default', named)), true);
    assert.equal(await exists(join(dir, 'collected', 'default', young)), true);
    assert.equal(await exists(join(dir, 'collected', 'default', unnamed)), false);
    assert.equal(await exists(crashed), false, 'a crashed unpack goes too');
    const again = await folder(unnamed);
    assert.equal(await readFile(join(again, 'index.js'), 'utf8'), 'unnamed');
    assert.equal(prepared, 4, 'unpacked and prepared again');
  });
});
