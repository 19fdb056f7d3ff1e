import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { ErrorCode, isFaasError } from '@faas/core';
import { defineBlobSuite, Tmpfs, tmpfsSkipReason } from '@faas/testkit';
import { blobPath, stagingDir } from './blob-paths.ts';
import { createLocalBlobStore } from './local-blob-store.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-local-blobs-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** The user `nobody`: another user than the test's. */
const NOBODY = 65_534;
const freshRoot = () => join(root, `blobs-${++n}`);

/** Ways a file on disk goes bad: each must be caught by the hash or the decompressor. */
const damages = [
  (file: string) => writeFileSync(file, zstdCompressSync(Buffer.from('other bytes entirely'))),
  (file: string) => writeFileSync(file, readFileSync(file).subarray(0, 20)),
  (file: string) => {
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
  },
];
let damage = 0;

defineBlobSuite('LocalBlobStore', async () => {
  const dir = freshRoot();
  const blobs = await createLocalBlobStore({ root: dir });
  return {
    blobs,
    corrupt: async (sha256) =>
      (damages[damage++ % damages.length] as (file: string) => void)(blobPath(dir, sha256)),
    cleanup: async () => {
      await blobs.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('LocalBlobStore on disk', () => {
  it('writes <root>/ab/cdef….zst holding the zstd of the bytes, once for identical bytes', async () => {
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    const data = Buffer.from('hello '.repeat(1000));
    const sha256 = createHash('sha256').update(data).digest('hex');
    await blobs.put(data);
    await blobs.put(data);
    await blobs.putStream(Readable.from([data]));
    const shards = readdirSync(dir).filter((d) => d !== '.tmp');
    assert.deepEqual(shards, [sha256.slice(0, 2)]);
    assert.deepEqual(readdirSync(join(dir, sha256.slice(0, 2))), [`${sha256.slice(2)}.zst`]);
    const onDisk = readFileSync(join(dir, sha256.slice(0, 2), `${sha256.slice(2)}.zst`));
    assert.ok(onDisk.byteLength < data.byteLength / 10, 'not compressed');
    assert.ok(zstdDecompressSync(onDisk).equals(data));
    assert.deepEqual(readdirSync(stagingDir(dir)), [], 'staging files left behind');
  });

  it('puts into a blob folder removed since its last put, small bytes and large', async () => {
    // The store remembers the folders it made (a put skips their mkdir): one removed meanwhile is made again.
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const first = Buffer.from('first');
    const folder = sha(first).slice(0, 2);
    const sameFolder = (size: number) => {
      for (let i = 0; ; i++) {
        const data = Buffer.alloc(size, `${i} `);
        if (sha(data).slice(0, 2) === folder && !data.equals(first)) return data;
      }
    };
    await blobs.put(first);
    for (const data of [sameFolder(100), sameFolder(100_000)]) {
      rmSync(join(dir, folder), { recursive: true });
      assert.deepEqual(await blobs.put(data), { sha256: sha(data), sizeBytes: data.byteLength });
      assert.ok(Buffer.from((await blobs.get(sha(data))) ?? []).equals(data));
    }
    assert.equal(await blobs.has(sha(first)), false);
    assert.deepEqual(readdirSync(stagingDir(dir)), [], 'staging files left behind');
  });

  it('reads back bytes whose zstd is small, however far they expand', async () => {
    const blobs = await createLocalBlobStore({ root: freshRoot() });
    // Each compresses to well under 16 KiB; the last expands to 64 times that.
    for (const data of [Buffer.from('tiny'), Buffer.alloc(16 * 1024, 'a'), Buffer.alloc(1024 * 1024)]) {
      const { sha256 } = await blobs.put(data);
      assert.ok(Buffer.from((await blobs.get(sha256)) ?? []).equals(data), `${data.byteLength} bytes`);
    }
  });

  it('reports corruption as a FaasError naming the blob', async () => {
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    const { sha256 } = await blobs.put(Buffer.from('precious'));
    writeFileSync(blobPath(dir, sha256), zstdCompressSync(Buffer.from('tampered')));
    await assert.rejects(blobs.get(sha256), (err) => {
      assert.ok(isFaasError(err));
      assert.equal(err.code, ErrorCode.INTERNAL);
      assert.match(err.message, new RegExp(sha256));
      return true;
    });
  });

  it('catches every kind of damage on get and getStream', async () => {
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    for (const [i, damageFile] of damages.entries()) {
      const { sha256 } = await blobs.put(Buffer.from(`blob number ${i} `.repeat(500)));
      damageFile(blobPath(dir, sha256));
      await assert.rejects(blobs.get(sha256), `damage ${i} passed get`);
      const stream = await blobs.getStream(sha256);
      assert.ok(stream);
      await assert.rejects(Readable.from(stream).toArray(), `damage ${i} passed getStream`);
    }
  });

  it('leaves no staging file after a failed stream write', async () => {
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(blobs.putStream(source));
    assert.deepEqual(readdirSync(stagingDir(dir)), []);
  });

  it('sweeps staging files left by a crash once they are old, and only those', async () => {
    const dir = freshRoot();
    await createLocalBlobStore({ root: dir });
    const stale = join(stagingDir(dir), 'crashed.zst');
    const recent = join(stagingDir(dir), 'in-flight.zst');
    writeFileSync(stale, 'half a blob');
    writeFileSync(recent, 'another writer');
    const hoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
    utimesSync(stale, hoursAgo, hoursAgo);
    await createLocalBlobStore({ root: dir });
    assert.deepEqual(readdirSync(stagingDir(dir)), ['in-flight.zst']);
  });

  it('a stream stopped early closes its file', async () => {
    const dir = freshRoot();
    const blobs = await createLocalBlobStore({ root: dir });
    const { sha256 } = await blobs.put(Buffer.alloc(4 * 1024 * 1024, 7));
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) {
      const stream = await blobs.getStream(sha256);
      assert.ok(stream);
      for await (const _chunk of stream) break;
    }
    // Closing is asynchronous: wait for it, up to a bound only a leak reaches.
    const until = Date.now() + 2_000;
    while (readdirSync('/proc/self/fd').length > before + 2 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(readdirSync('/proc/self/fd').length <= before + 2, 'file handles leaked');
  });
});

describe('LocalBlobStore, two puts of the same bytes', () => {
  it('answers the second only once the first is durable, not when its file appears', async () => {
    const store = await createLocalBlobStore({ root: join(root, 'same-bytes') });
    const data = new TextEncoder().encode('written twice at once');
    const sha256 = createHash('sha256').update(data).digest('hex');
    const order: string[] = [];
    const first = store.put(data).then(() => order.push('first'));
    // The file appears at the first put's rename, before the fsync of its folder.
    while (!existsSync(blobPath(store.root, sha256))) await new Promise((r) => setImmediate(r));
    const second = store.put(data).then(() => order.push('second'));
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first', 'second']);
  });
});

describe('LocalBlobStore, a collection racing a put', () => {
  it('never deletes bytes a put answered for: the put renews them first or writes them again', async () => {
    const store = await createLocalBlobStore({ root: join(root, 'collected') });
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (let i = 0; i < 200; i++) {
      const data = new TextEncoder().encode(`unnamed for an hour, then deployed again: ${i}`);
      const { sha256 } = await store.put(data);
      utimesSync(blobPath(store.root, sha256), hourAgo, hourAgo);
      const storedBefore = Date.now() - 60_000;
      // Started in either order, both before either's first await.
      const deleteFirst = i % 2 === 1 ? store.delete(sha256, { storedBefore }) : undefined;
      const put = store.put(data);
      const deleted = deleteFirst ?? store.delete(sha256, { storedBefore });
      const [answered] = await Promise.all([put, deleted]);
      assert.equal(answered.sha256, sha256);
      assert.equal(await store.has(sha256), true, `round ${i}: the put answered, the blob is gone`);
    }
  });
});

describe('LocalBlobStore, a blob another user owns', () => {
  it('a put of those bytes writes them again (their time is not ours to set) instead of failing', {
    skip: process.getuid?.() === 0 ? false : 'needs root, to be another user',
  }, async () => {
    const store = await createLocalBlobStore({ root: join(root, 'owned-by-root') });
    const data = 'stored by a server run as root';
    const { sha256 } = await store.put(new TextEncoder().encode(data));
    const path = blobPath(store.root, sha256);
    // The folders writable by the other user, the file still root's.
    for (const dir of [root, store.root, dirname(path), stagingDir(store.root)])
      chownSync(dir, NOBODY, NOBODY);
    const moduleUrl = new URL('./local-blob-store.ts', import.meta.url).href;
    const script = `const { createLocalBlobStore } = await import(${JSON.stringify(moduleUrl)});
      const store = await createLocalBlobStore({ root: ${JSON.stringify(store.root)} });
      console.log((await store.put(new TextEncoder().encode(${JSON.stringify(data)}))).sha256);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      uid: NOBODY,
      gid: NOBODY,
      encoding: 'utf8',
    });
    assert.equal(out.trim(), sha256);
    assert.equal(statSync(path).uid, NOBODY, 'written again, as the other user');
    assert.equal(new TextDecoder().decode(await store.get(sha256)), data);
  });
});

describe('LocalBlobStore on a full disk', () => {
  it('fails a put with STORAGE_FULL and leaves no staged file', async (t) => {
    const skip = tmpfsSkipReason(join(root, 'probe'));
    if (skip) return t.skip(skip);
    const mount = Tmpfs.mount(join(root, 'small'), 256 * 1024);
    try {
      const store = await createLocalBlobStore({ root: join(mount.path, 'blobs') });
      // Random bytes do not compress: 1 MiB cannot fit in 256 KiB.
      const big = new Uint8Array(1024 * 1024).map(() => Math.floor(Math.random() * 256));
      await assert.rejects(
        store.put(big),
        (err: unknown) => isFaasError(err) && err.code === ErrorCode.STORAGE_FULL,
      );
      await assert.rejects(
        store.putStream(Readable.from([Buffer.from(big)])),
        (err: unknown) => isFaasError(err) && err.code === ErrorCode.STORAGE_FULL,
      );
      assert.deepEqual(readdirSync(stagingDir(store.root)), []);
      // Small blobs still fit.
      const small = await store.put(new TextEncoder().encode('still fits'));
      assert.equal(await store.has(small.sha256), true);
      // Until the disk is full: a small blob's write fails the same way.
      const filler = join(mount.path, 'filler');
      assert.throws(() => writeFileSync(filler, new Uint8Array(256 * 1024)), /ENOSPC/);
      await assert.rejects(
        store.put(new Uint8Array(8 * 1024).map(() => Math.floor(Math.random() * 256))),
        (err: unknown) => isFaasError(err) && err.code === ErrorCode.STORAGE_FULL,
      );
      assert.deepEqual(readdirSync(stagingDir(store.root)), []);
      await store.close();
    } finally {
      mount.unmount();
    }
  });
});
