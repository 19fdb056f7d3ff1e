import { readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BackendHealth, BlobInfo, BlobStore, StoredBlob } from '@faas/core';
import { blobPath, isSha256Hex } from '../local/blob-paths.ts';
import type { LocalBlobStore } from '../local/local-blob-store.ts';

/** Eviction goes below the cap by this share, so the next few writes do not each start one. */
const EVICT_TO = 0.9;
/** A blob bigger than this share of the cap is not kept: it would evict most of the code for itself. */
const LARGEST_SHARE = 0.25;

export interface CachedBlobStoreOptions {
  /** Where blobs live for good (S3). */
  remote: BlobStore;
  /** The cache: local disk, the same layout as the embedded store. */
  cache: LocalBlobStore;
  /** Bytes the cache's files may take (compressed, as on disk). */
  maxBytes: number;
  logger?: Pick<Console, 'warn'>;
}

/**
 * A remote blob store read through a local disk cache (seed 003's tiers): a code blob read once
 * is read from disk after, with no network. Writes go to the remote first (it is the copy that
 * counts), then to the cache. The cache is bounded: past `maxBytes`, the least recently used
 * blobs go (a hit renews a file's mtime, so other processes reading the folder see the order too).
 * Streams (snapshots: large, read rarely) pass by the cache, so they never evict code.
 */
export class CachedBlobStore implements BlobStore {
  readonly cache: LocalBlobStore;
  #remote: BlobStore;
  #maxBytes: number;
  #logger: Pick<Console, 'warn'>;
  /** The cache's size as last counted, plus what was added since. */
  #usedBytes = 0;
  #evicting: Promise<void> | undefined;

  constructor(options: CachedBlobStoreOptions) {
    this.#remote = options.remote;
    this.cache = options.cache;
    this.#maxBytes = options.maxBytes;
    this.#logger = options.logger ?? console;
  }

  async put(data: Uint8Array): Promise<BlobInfo> {
    const info = await this.#remote.put(data);
    await this.#keep(info.sha256, data);
    return info;
  }

  putStream(stream: Readable): Promise<BlobInfo> {
    return this.#remote.putStream(stream);
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    const local = await this.#cached(sha256);
    if (local) return local;
    const bytes = await this.#remote.get(sha256);
    if (bytes) await this.#keep(sha256, bytes);
    return bytes;
  }

  async getStream(sha256: string): Promise<Readable | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    if (await this.cache.has(sha256)) {
      const stream = await this.cache.getStream(sha256);
      if (stream) {
        await this.#touch(sha256);
        return stream;
      }
    }
    return this.#remote.getStream(sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.cache.has(sha256)) || this.#remote.has(sha256);
  }

  /** The cached copy goes only with the remote one: a put kept in the remote keeps it too. */
  async delete(sha256: string, options?: { storedBefore?: number }): Promise<boolean> {
    const deleted = await this.#remote.delete(sha256, options);
    if (deleted || options?.storedBefore === undefined) await this.cache.delete(sha256);
    return deleted;
  }

  /** The remote's blobs: it holds every one, the cache some. */
  list(): AsyncIterable<StoredBlob> {
    return this.#remote.list();
  }

  /** The remote's health: the cache only makes reads cheaper. */
  health(): Promise<BackendHealth> {
    return this.#remote.health();
  }

  async close(): Promise<void> {
    await this.#evicting;
    await this.#remote.close();
    await this.cache.close();
  }

  /** Counts the cache's files, and evicts if another run left it past the cap. */
  async recount(): Promise<void> {
    this.#usedBytes = (await this.#files()).reduce((sum, f) => sum + f.size, 0);
    await this.#evictIfOver();
  }

  /** The cache's size as this process last counted it. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** A cache hit, or undefined. A damaged cached copy is dropped: the remote one is read instead. */
  async #cached(sha256: string): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.cache.get(sha256);
    } catch (err) {
      this.#logger.warn(`dropping a damaged cached blob: ${(err as Error).message}`);
      await this.cache.delete(sha256).catch(() => undefined);
      return undefined;
    }
    if (bytes) await this.#touch(sha256);
    return bytes;
  }

  /** Copies a blob into the cache. A cache that cannot take it (disk full) costs speed, not the call. */
  async #keep(sha256: string, data: Uint8Array): Promise<void> {
    if (data.byteLength > this.#maxBytes * LARGEST_SHARE) return;
    try {
      if (await this.cache.has(sha256)) return;
      await this.cache.put(data);
      this.#usedBytes += (await stat(blobPath(this.cache.root, sha256))).size;
    } catch (err) {
      this.#logger.warn(`could not cache blob ${sha256}: ${(err as Error).message}`);
      return;
    }
    await this.#evictIfOver();
  }

  async #touch(sha256: string): Promise<void> {
    const now = new Date();
    // Evicted by another process meanwhile: nothing to renew.
    await utimes(blobPath(this.cache.root, sha256), now, now).catch(() => undefined);
  }

  #evictIfOver(): Promise<void> {
    if (this.#usedBytes <= this.#maxBytes) return Promise.resolve();
    this.#evicting ??= this.#evict().finally(() => {
      this.#evicting = undefined;
    });
    return this.#evicting;
  }

  /** Removes the least recently used files until the cache is below the cap. */
  async #evict(): Promise<void> {
    const files = (await this.#files()).sort((a, b) => a.mtimeMs - b.mtimeMs);
    let total = files.reduce((sum, f) => sum + f.size, 0);
    const target = Math.floor(this.#maxBytes * EVICT_TO);
    for (const file of files) {
      if (total <= target) break;
      // A reader that opened the file keeps its bytes: unlinking does not cut it short.
      if (await this.cache.delete(file.sha256).catch(() => false)) total -= file.size;
    }
    this.#usedBytes = total;
  }

  async #files(): Promise<Array<{ sha256: string; size: number; mtimeMs: number }>> {
    const out: Array<{ sha256: string; size: number; mtimeMs: number }> = [];
    const shards = await readdir(this.cache.root).catch(() => [] as string[]);
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.cache.root, shard)).catch(() => [] as string[])) {
        const sha256 = `${shard}${name.replace(/\.zst$/, '')}`;
        if (!isSha256Hex(sha256)) continue;
        const info = await stat(join(this.cache.root, shard, name)).catch(() => undefined);
        if (info) out.push({ sha256, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return out;
  }
}
