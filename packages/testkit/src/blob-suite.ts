import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobStore, StoredBlob } from '@faas/core';
import { type Disposable, freshPerTest } from './fresh-subject.ts';

export interface BlobStoreUnderTest extends Disposable {
  /** Empty. */
  blobs: BlobStore;
  /**
   * Damages a stored blob behind the store's back (flips bytes, truncates, swaps content), so the
   * suite can check that reads detect it. Without it, those cases are skipped.
   */
  corrupt?: (sha256: string) => Promise<void>;
}

/** Makes a fresh, empty blob store for each case. */
export type BlobStoreFactory = () => Promise<BlobStoreUnderTest>;

const sha256Of = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function storedAt(blobs: BlobStore, sha256: string): Promise<number> {
  for await (const blob of blobs.list()) if (blob.sha256 === sha256) return blob.storedAt;
  throw new Error(`${sha256} is not listed`);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Deterministic bytes: half random-looking, half repetitive, so compression has both kinds. */
function sampleBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1_103_515_245 + 12_345) & 0x7fffffff;
    out[i] = i % 2048 < 1024 ? x & 0xff : i & 0x0f;
  }
  return out;
}

/** A stream of `total` bytes made chunk by chunk: the test never holds them all. */
function generated(total: number, chunkSize: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  let seed = 7;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = sampleBytes(Math.min(chunkSize, total - sent), seed++);
      sent += chunk.byteLength;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

/** `total` random bytes in chunks, hashed as they go (cheap to make, nothing compresses them). */
function randomStream(total: number, chunkSize: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = randomBytes(Math.min(chunkSize, total - sent));
      sent += chunk.byteLength;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

/** This process's peak resident memory since the last reset (Linux), or undefined elsewhere. */
function peakRss(reset = false): number | undefined {
  if (!existsSync('/proc/self/clear_refs')) return undefined;
  if (reset) writeFileSync('/proc/self/clear_refs', '5');
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
}

/**
 * The BlobStore conformance suite: content addressing, idempotent writes, streaming both ways,
 * verification on read, deletes.
 *
 * @example
 * defineBlobSuite('LocalBlobStore', async () => {
 *   const root = mkdtempSync(join(tmpdir(), 'blobs-'));
 *   const blobs = await createLocalBlobStore({ root });
 *   return { blobs, cleanup: async () => rmSync(root, { recursive: true, force: true }) };
 * });
 */
export function defineBlobSuite(name: string, factory: BlobStoreFactory): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const subject = freshPerTest(factory);
    const blobs = () => subject.get().blobs;

    it('names a blob by the sha256 of its bytes and gives the same bytes back', async () => {
      const data = sampleBytes(100_000);
      const info = await blobs().put(data);
      assert.deepEqual(info, { sha256: sha256Of(data), sizeBytes: data.byteLength });
      assert.equal(await blobs().has(info.sha256), true);
      const back = await blobs().get(info.sha256);
      assert.ok(back instanceof Uint8Array);
      assert.ok(Buffer.from(back).equals(data));
    });

    it('keeps every byte value and the empty blob', async () => {
      const all = Uint8Array.from({ length: 256 * 4 }, (_, i) => i % 256);
      const info = await blobs().put(all);
      assert.deepEqual(await blobs().get(info.sha256), new Uint8Array(all));
      const empty = await blobs().put(new Uint8Array(0));
      assert.deepEqual(empty, { sha256: sha256Of(new Uint8Array(0)), sizeBytes: 0 });
      const back = await blobs().get(empty.sha256);
      assert.ok(back !== undefined, 'the empty blob is stored, not absent');
      assert.equal(back.byteLength, 0);
      assert.equal((await readAll((await blobs().getStream(empty.sha256)) as Readable)).byteLength, 0);
    });

    it('stores identical bytes once: writes are idempotent, one delete removes them', async () => {
      const data = Buffer.from('same bytes, twice');
      const [a, b] = await Promise.all([blobs().put(data), blobs().put(Buffer.from(data))]);
      assert.deepEqual(a, b);
      assert.deepEqual(await blobs().putStream(Readable.from([data.subarray(0, 4), data.subarray(4)])), a);
      assert.deepEqual(await blobs().put(data), a);
      assert.equal(await blobs().delete(a.sha256), true);
      assert.equal(await blobs().has(a.sha256), false);
    });

    it('is not changed through the arrays it was given or gave out', async () => {
      const data = Buffer.from('immutable');
      const info = await blobs().put(data);
      data.fill(0);
      const first = await blobs().get(info.sha256);
      first?.fill(1);
      assert.equal(Buffer.from((await blobs().get(info.sha256)) ?? []).toString(), 'immutable');
    });

    it('answers absent blobs with undefined and false', async () => {
      const missing = sha256Of(Buffer.from('never stored'));
      assert.equal(await blobs().get(missing), undefined);
      assert.equal(await blobs().getStream(missing), undefined);
      assert.equal(await blobs().has(missing), false);
      assert.equal(await blobs().delete(missing), false);
    });

    it('treats names that are not a sha256 as absent, never as paths', async () => {
      await blobs().put(Buffer.from('x'));
      for (const bad of ['', '../../etc/passwd', 'A'.repeat(64), `${'a'.repeat(63)}/`, 'a'.repeat(65)]) {
        assert.equal(await blobs().get(bad), undefined, bad);
        assert.equal(await blobs().getStream(bad), undefined, bad);
        assert.equal(await blobs().has(bad), false, bad);
        assert.equal(await blobs().delete(bad), false, bad);
      }
    });

    it('putStream hashes and stores a stream it never holds whole', async () => {
      const total = 12 * 1024 * 1024 + 17;
      const source = generated(total, 256 * 1024);
      const info = await blobs().putStream(source.stream);
      assert.deepEqual(info, { sha256: source.sha256(), sizeBytes: total });
      const stream = await blobs().getStream(info.sha256);
      assert.ok(stream);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).byteLength;
      }
      assert.equal(size, total);
      assert.equal(hash.digest('hex'), info.sha256);
    });

    it('streams a blob of hundreds of MB both ways without holding it (snapshots depend on it)', async (t) => {
      if (peakRss() === undefined) return t.skip('no /proc here to read the peak memory from');
      const total = 256 * 1024 * 1024;
      const source = randomStream(total, 1024 * 1024);
      const before = peakRss(true) as number;
      const info = await blobs().putStream(source.stream);
      assert.deepEqual(info, { sha256: source.sha256(), sizeBytes: total });
      const stream = await blobs().getStream(info.sha256);
      assert.ok(stream);
      const hash = createHash('sha256');
      let size = 0;
      let chunks = 0;
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).byteLength;
        // A reader that stops for a moment: the store must wait for it, not read ahead.
        if (++chunks === 4) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(size, total);
      assert.equal(hash.digest('hex'), info.sha256);
      const growth = (peakRss() as number) - before;
      t.diagnostic(
        `peak memory growth for a ${total / 1024 / 1024} MiB blob: ${(growth / 1024 / 1024).toFixed(1)} MiB`,
      );
      // Holding it whole would be at least its size; garbage not yet collected stays well below.
      assert.ok(growth < total / 3, `the process grew by ${(growth / 1024 / 1024).toFixed(0)} MiB`);
    });

    it('putStream accepts string chunks and answers like put', async () => {
      const info = await blobs().putStream(Readable.from(['hello ', 'world'], { objectMode: false }));
      assert.deepEqual(info, await blobs().put(Buffer.from('hello world')));
      assert.equal(Buffer.from((await blobs().get(info.sha256)) ?? []).toString(), 'hello world');
    });

    it('getStream gives the bytes of a blob written with put', async () => {
      const data = sampleBytes(300_000, 3);
      const info = await blobs().put(data);
      assert.ok((await readAll((await blobs().getStream(info.sha256)) as Readable)).equals(data));
    });

    it('a failing source stream fails putStream and stores nothing', async () => {
      const partial = Buffer.from('partial data');
      const source = new Readable({
        read() {
          this.push(partial);
          this.destroy(new Error('source broke'));
        },
      });
      await assert.rejects(blobs().putStream(source), /source broke/);
      assert.equal(await blobs().has(sha256Of(partial)), false);
      const info = await blobs().put(Buffer.from('still works'));
      assert.equal(await blobs().has(info.sha256), true);
    });

    it('deletes a blob: it is gone for has, get and getStream', async () => {
      const info = await blobs().put(Buffer.from('to delete'));
      const other = await blobs().put(Buffer.from('to keep'));
      assert.equal(await blobs().delete(info.sha256), true);
      assert.equal(await blobs().has(info.sha256), false);
      assert.equal(await blobs().get(info.sha256), undefined);
      assert.equal(await blobs().getStream(info.sha256), undefined);
      assert.equal(await blobs().delete(info.sha256), false);
      assert.equal(await blobs().has(other.sha256), true);
    });

    it('lists every blob with when it was put and what it takes', async () => {
      const before = Date.now();
      const a = await blobs().put(sampleBytes(20_000, 3));
      const b = await blobs().putStream(Readable.from([Buffer.from('streamed in')]));
      const listed = new Map<string, StoredBlob>();
      for await (const blob of blobs().list()) listed.set(blob.sha256, blob);
      assert.deepEqual([...listed.keys()].sort(), [a.sha256, b.sha256].sort());
      for (const blob of listed.values()) {
        // S3 keeps LastModified to the second.
        assert.ok(
          blob.storedAt >= before - 1_000 && blob.storedAt <= Date.now(),
          `${blob.storedAt} vs ${before}`,
        );
        assert.ok(blob.storedBytes > 0);
      }
    });

    it('a put of stored bytes renews their time, and a delete given an earlier time keeps them', async () => {
      const data = Buffer.from('put again before the collection');
      const { sha256 } = await blobs().put(data);
      const first = await storedAt(blobs(), sha256);
      assert.equal(await blobs().delete(sha256, { storedBefore: first }), false, 'put at the cut-off: kept');
      // Past the second, for S3's LastModified.
      await sleep(1_100);
      await blobs().put(data);
      const renewed = await storedAt(blobs(), sha256);
      assert.ok(renewed > first, `put again: ${renewed} > ${first}`);
      assert.equal(await blobs().delete(sha256, { storedBefore: first + 1 }), false);
      await sleep(1_100);
      await blobs().putStream(Readable.from([data]));
      assert.ok((await storedAt(blobs(), sha256)) > renewed, 'putStream renews it too');
      assert.equal(await blobs().has(sha256), true);
      assert.equal(await blobs().delete(sha256, { storedBefore: Date.now() + 1_000 }), true);
      assert.equal(await blobs().has(sha256), false);
      assert.equal(await blobs().delete(sha256, { storedBefore: Date.now() + 1_000 }), false, 'absent');
    });

    it('a damaged blob is an error on get and getStream, never wrong bytes', async (t) => {
      const { corrupt } = subject.get();
      if (!corrupt) return t.skip('the factory gives no corrupt hook');
      const info = await blobs().put(sampleBytes(50_000, 9));
      await corrupt(info.sha256);
      await assert.rejects(blobs().get(info.sha256));
      const stream = await blobs().getStream(info.sha256);
      if (stream) await assert.rejects(readAll(stream));
    });
  });
}
