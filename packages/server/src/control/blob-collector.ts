import type { BlobStore, MetadataStore, StoredBlob } from '@faas/core';
import { SweepTimer } from './sweep-timer.ts';

/** Copies of code blobs on this node's disk, and what was made from them (installs, builds, V8 code caches). */
export interface UnpackedCode {
  /** Removes the copies of code `named` does not name, and what only they used, from before `unpackedBefore`. */
  collect(
    named: (sha256s: readonly string[]) => Promise<Set<string>>,
    unpackedBefore: number,
  ): Promise<number>;
}

export interface BlobCollectorOptions {
  store: Pick<MetadataStore, 'blobsNamed'>;
  /** Absent on a worker: the gateways collect the blob store they share with it. */
  blobs?: BlobStore | undefined;
  unpackedCode?: UnpackedCode | undefined;
  /** A blob no record names is deleted once it was last put this long ago; 0 keeps every blob. */
  graceMs: number;
  /** Between collections. @default 3600000 */
  intervalMs?: number;
  /** The first collection, after start. @default 600000 */
  firstRunMs?: number;
  /** Blobs asked about at once, and deleted before the next batch. @default 500 */
  batchSize?: number;
  logger?: Pick<Console, 'error' | 'info'>;
  /** @default Date.now */
  now?: () => number;
}

export interface CollectionResult {
  /** Blobs the store holds. */
  listed: number;
  deleted: number;
  /** What the deleted ones took in the store (compressed). */
  freedBytes: number;
  /** Unpacked code folders, installed dependencies, go builds and V8 code caches removed from this node's disk. */
  codeFolders: number;
}

/**
 * Deletes the blobs nothing names: the code of deleted functions and of refused deploys, the data
 * of deleted snapshots; and on this node, the unpacked copies of such code and its V8 code
 * caches, and the installed dependencies and go builds nothing used since. Without it they stay
 * forever, outside every quota, so failing deploys could fill the disk.
 *
 * A blob is deleted only when it was last put before the grace period began, and no version or
 * snapshot names it when asked, which is after it was listed. Every record that names a blob is
 * written after a put of its bytes, and that put renews the blob's time, which the delete checks
 * again (`storedBefore`): so a deploy that writes bytes nothing named for a day keeps them, and a
 * record written after the question has a put newer than the grace period behind it. What the
 * grace period must outlast is the longest a deploy or snapshot takes between writing its blobs
 * and recording them (builds and installs stop at 5 minutes; the default is a day).
 */
export class BlobCollector {
  #o: BlobCollectorOptions;
  #now: () => number;
  #timer = new SweepTimer(() =>
    this.collect()
      .then((result) => {
        if (result.deleted + result.codeFolders === 0) return;
        this.#o.logger?.info(
          `blobs: deleted ${result.deleted} of ${result.listed} that nothing named (${result.freedBytes} bytes), ` +
            `and ${result.codeFolders} code folder(s), install(s), build(s) and code cache(s)`,
        );
      })
      .catch((err: unknown) => this.#o.logger?.error('collecting unnamed blobs failed', err)),
  );

  constructor(options: BlobCollectorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (this.#o.graceMs <= 0 || !(this.#o.blobs || this.#o.unpackedCode)) return;
    this.#timer.start(this.#o.firstRunMs ?? 600_000, this.#o.intervalMs ?? 3_600_000);
  }

  /** Stops after the batch under way. */
  stop(): Promise<void> {
    return this.#timer.stop();
  }

  async collect(): Promise<CollectionResult> {
    const result: CollectionResult = { listed: 0, deleted: 0, freedBytes: 0, codeFolders: 0 };
    if (this.#o.graceMs <= 0) return result;
    const storedBefore = this.#now() - this.#o.graceMs;
    const blobs = this.#o.blobs;
    if (blobs) {
      const batchSize = this.#o.batchSize ?? 500;
      let old: StoredBlob[] = [];
      for await (const blob of blobs.list()) {
        if (this.#timer.stopped) return result;
        result.listed++;
        if (blob.storedAt >= storedBefore) continue;
        old.push(blob);
        if (old.length < batchSize) continue;
        await this.#deleteUnnamed(blobs, old, storedBefore, result);
        old = [];
      }
      await this.#deleteUnnamed(blobs, old, storedBefore, result);
    }
    if (this.#o.unpackedCode && !this.#timer.stopped) {
      result.codeFolders = await this.#o.unpackedCode.collect(
        (shas) => this.#o.store.blobsNamed(shas),
        storedBefore,
      );
    }
    return result;
  }

  async #deleteUnnamed(
    blobs: BlobStore,
    old: StoredBlob[],
    storedBefore: number,
    result: CollectionResult,
  ): Promise<void> {
    if (old.length === 0 || this.#timer.stopped) return;
    const named = await this.#o.store.blobsNamed(old.map((b) => b.sha256));
    for (const blob of old) {
      if (named.has(blob.sha256) || this.#timer.stopped) continue;
      if (await blobs.delete(blob.sha256, { storedBefore })) {
        result.deleted++;
        result.freedBytes += blob.storedBytes;
      }
    }
  }
}
