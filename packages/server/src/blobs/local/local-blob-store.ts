import { createHash, randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, fsync, openSync, readFileSync, statSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  createZstdCompress,
  zstdCompress,
  zstdCompressSync,
  zstdDecompress,
  zstdDecompressSync,
} from 'node:zlib';
import { type BackendHealth, type BlobInfo, type BlobStore, ErrorCode, type StoredBlob } from '@faas/core';
import { toFsStorageError } from '../../storage/storage-errors.ts';
import { corrupted, measuringStream, verifiedBytes } from '../blob-integrity.ts';
import { blobPath, isSha256Hex, stagingDir } from './blob-paths.ts';

const compress = promisify(zstdCompress);
const decompress = promisify(zstdDecompress);
const fsyncFd = promisify(fsync);

/**
 * Bytes up to this size are compressed on the calling thread. A trip to libuv's pool and back
 * cost ~1.3 ms of wall time per put of a small function's code (spans in the server, 500
 * deploys, load average ~9 on 2 cores), zstd itself ~0.1-0.2 ms for 16 KiB.
 */
const COMPRESS_INLINE_MAX_BYTES = 16 * 1024;

/**
 * A blob of up to COMPRESS_INLINE_MAX_BYTES decompressed on the calling thread, as a small one
 * is compressed: the trip to libuv's pool was ~40% of reading a small artifact (0.47 -> 0.29 ms
 * a read, idle machine), which an isolate host does on every cold start. Undefined for a larger
 * one, which goes to the pool; the output is what is bounded, since a few bytes of zstd may
 * stand for megabytes.
 */
function inflateInline(compressed: Buffer): Buffer | undefined {
  if (compressed.byteLength > COMPRESS_INLINE_MAX_BYTES) return undefined;
  try {
    return zstdDecompressSync(compressed, { maxOutputLength: COMPRESS_INLINE_MAX_BYTES });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw err;
  }
}

/**
 * A file of up to COMPRESS_INLINE_MAX_BYTES read on the calling thread, as it is then inflated:
 * each of readFile's four trips to libuv's pool (open, stat, read, close) cost ~0.2 ms of wall
 * time on these machines, ~0.7 ms of every cold start of an isolate host. Undefined for a larger
 * one (read through the pool); throws ENOENT for a missing one, as readFile does.
 */
function readSmall(path: string): Buffer | undefined {
  return statSync(path).size <= COMPRESS_INLINE_MAX_BYTES ? readFileSync(path) : undefined;
}

/** The folders blobs are in: the first two hex characters of their names. */
const SHARD = /^[0-9a-f]{2}$/;

/** Staged files older than this are leftovers of a crashed write and are removed at open. */
const STALE_STAGING_MS = 60 * 60_000;

export interface LocalBlobStoreOptions {
  /** Folder of the blobs; created when missing. */
  root: string;
}

/**
 * Blobs on local disk, content-addressed by the sha256 of their uncompressed bytes and stored
 * zstd-compressed. A write goes to a staging file, is fsynced, then renamed into place, so a
 * blob's path holds either nothing or the whole blob, even after a crash. Reads check the hash:
 * a damaged file is an error, never wrong bytes.
 */
export class LocalBlobStore implements BlobStore {
  readonly root: string;
  /** Blob folders made or seen by this store: a put into one skips its mkdir (one pool trip). */
  #folders = new Set<string>();
  /** Operations under way on a blob's file, by sha256 (#oneAtATime). */
  #busy = new Map<string, Promise<unknown>>();

  constructor(options: LocalBlobStoreOptions) {
    this.root = options.root;
  }

  async put(data: Uint8Array): Promise<BlobInfo> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    await this.#oneAtATime(sha256, () => this.#keep(sha256, () => this.#write(data, sha256)));
    return { sha256, sizeBytes: data.byteLength };
  }

  /**
   * Renews the blob's time when it is stored, else runs `write`. A stat is a lookup, not a write
   * (which can wait for the journal): microseconds here, where a trip to libuv's pool and back
   * wakes another thread (~0.3 ms of wall time on 2 busy cores).
   */
  async #keep(sha256: string, write: () => Promise<void>): Promise<void> {
    const path = blobPath(this.root, sha256);
    if (!statSync(path, { throwIfNoEntry: false })) return write();
    const now = new Date();
    await utimes(path, now, now).catch((err: unknown) => {
      // Gone since the stat; or a file another user owns (a data dir a root-run server used
      // once), whose times only its owner may set: written again, the rename makes it ours.
      if (isNotFound(err) || ['EPERM', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) {
        return write();
      }
      throw toFsStorageError(err, 'blobs', this.root);
    });
  }

  /**
   * Runs `operation` on a blob's file once no other one runs on it. A blob's file appears at its
   * rename, before the fsync of its folder, so a second put of the same bytes waits for the first
   * rather than answer on seeing it; and a collection's delete never falls between a put's check
   * and its renewal of the time.
   */
  async #oneAtATime<T>(sha256: string, operation: () => Promise<T>): Promise<T> {
    for (let busy = this.#busy.get(sha256); busy; busy = this.#busy.get(sha256)) {
      await busy.catch(() => undefined);
    }
    const running = operation();
    this.#busy.set(sha256, running);
    try {
      return await running;
    } finally {
      if (this.#busy.get(sha256) === running) this.#busy.delete(sha256);
    }
  }

  async #write(data: Uint8Array, sha256: string): Promise<void> {
    const compressed =
      data.byteLength <= COMPRESS_INLINE_MAX_BYTES ? zstdCompressSync(data) : await compress(data);
    const staged = await this.#stage((path) => writeFile(path, compressed, { flag: 'wx', flush: true }));
    await this.#commit(staged, sha256);
  }

  async putStream(stream: Readable): Promise<BlobInfo> {
    const { stream: measure, info } = measuringStream();
    // The name is known only at the end: stage under a random name, then rename.
    const staged = await this.#stage((path) =>
      pipeline(stream, measure, createZstdCompress(), createWriteStream(path, { flags: 'wx', flush: true })),
    );
    const { sha256, sizeBytes } = info();
    try {
      await this.#oneAtATime(sha256, () => this.#keep(sha256, () => this.#commit(staged, sha256)));
    } finally {
      await rm(staged, { force: true });
    }
    return { sha256, sizeBytes };
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    const path = blobPath(this.root, sha256);
    let compressed: Buffer;
    try {
      compressed = readSmall(path) ?? (await readFile(path));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    let data: Buffer;
    try {
      data = inflateInline(compressed) ?? (await decompress(compressed));
    } catch (err) {
      throw corrupted(sha256, path, err);
    }
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha256) throw corrupted(sha256, path, undefined, actual);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Bytes flow as they are read and decompressed; nothing holds the whole blob. A damaged blob
   * makes the stream fail (at the latest at its end, once the hash is known), so a consumer must
   * treat the bytes as good only when the stream ends without an error.
   */
  async getStream(sha256: string): Promise<Readable | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    const path = blobPath(this.root, sha256);
    let file: FileHandle;
    try {
      // Opened before returning, so "absent" is answered now and a later delete cannot cut the
      // stream short.
      file = await open(path, 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return Readable.from(verifiedBytes(file.createReadStream(), sha256, path), { objectMode: false });
  }

  async has(sha256: string): Promise<boolean> {
    if (!isSha256Hex(sha256)) return false;
    try {
      await stat(blobPath(this.root, sha256));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(sha256: string, options: { storedBefore?: number } = {}): Promise<boolean> {
    if (!isSha256Hex(sha256)) return false;
    const path = blobPath(this.root, sha256);
    return this.#oneAtATime(sha256, async () => {
      try {
        if (options.storedBefore !== undefined && (await stat(path)).mtimeMs >= options.storedBefore) {
          return false;
        }
        await unlink(path);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  /** Folder by folder, so a store of millions of blobs is never held in memory. */
  async *list(): AsyncIterable<StoredBlob> {
    for (const folder of (await readdir(this.root)).filter((name) => SHARD.test(name)).sort()) {
      const names = await readdir(join(this.root, folder)).catch((err: unknown) => {
        if (isNotFound(err)) return [];
        throw err;
      });
      for (const name of names) {
        const sha256 = folder + name.slice(0, -'.zst'.length);
        if (!name.endsWith('.zst') || !isSha256Hex(sha256)) continue;
        const info = await stat(join(this.root, folder, name)).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
        if (info) yield { sha256, storedAt: info.mtimeMs, storedBytes: info.size };
      }
    }
  }

  /** Unhealthy when the folder cannot be read (unmounted, permissions changed). */
  async health(): Promise<BackendHealth> {
    try {
      await stat(stagingDir(this.root));
      return { ok: true };
    } catch (err) {
      return {
        ok: false,
        code: ErrorCode.STORAGE_UNAVAILABLE,
        reason: `${this.root}: ${(err as Error).message}`,
      };
    }
  }

  async close(): Promise<void> {}

  /** Removes staged files left by writes that a crash interrupted. */
  async sweepStaging(olderThanMs = STALE_STAGING_MS): Promise<number> {
    const dir = stagingDir(this.root);
    let removed = 0;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs >= olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Runs `write` on a new staging path (writers fsync before closing) and returns the path. */
  async #stage(write: (path: string) => Promise<void>): Promise<string> {
    const path = join(stagingDir(this.root), `${randomUUID()}.zst`);
    try {
      await write(path);
    } catch (err) {
      await rm(path, { force: true });
      throw toFsStorageError(err, 'blobs', this.root);
    }
    return path;
  }

  /** Renames a staged file into place and makes the rename itself durable. */
  async #commit(staged: string, sha256: string): Promise<void> {
    const target = blobPath(this.root, sha256);
    const folder = dirname(target);
    try {
      if (!this.#folders.has(folder)) await makeFolder(folder);
      await rename(staged, target).catch(async (err: unknown) => {
        // The folder went away since (removed by hand): make it again.
        if (!isNotFound(err)) throw err;
        await makeFolder(folder);
        await rename(staged, target);
      });
      this.#folders.add(folder);
    } catch (err) {
      await rm(staged, { force: true });
      throw toFsStorageError(err, 'blobs', this.root);
    }
    await syncDir(folder);
  }
}

/** Opening and closing a folder are lookups: only the fsync goes to libuv's pool (one trip, not three). */
async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes a blob folder, durably: the entry of each folder it made is fsynced in its parent, or
 * after an OS crash the folder (and the blob renamed into it) could be gone while the metadata
 * naming the blob survived.
 */
async function makeFolder(folder: string): Promise<void> {
  const first = await mkdir(folder, { recursive: true });
  if (first === undefined) return;
  for (let made = folder; ; made = dirname(made)) {
    await syncDir(dirname(made));
    if (made === first || dirname(made) === made) return;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Opens a local blob store under `root`, creating it, and clears stale staged writes. */
export async function createLocalBlobStore(options: LocalBlobStoreOptions): Promise<LocalBlobStore> {
  await mkdir(stagingDir(options.root), { recursive: true });
  const store = new LocalBlobStore(options);
  await store.sweepStaging();
  return store;
}
