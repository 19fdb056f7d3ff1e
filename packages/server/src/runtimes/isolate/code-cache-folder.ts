import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ivm from 'isolated-vm';
import { codeCacheFile } from './code-cache-files.ts';

/** Caches up to this size are read on the calling thread. */
const READ_INLINE_MAX_BYTES = 64 * 1024;

/**
 * V8's code caches of artifacts, one file per artifact, in a folder of one isolate host: a
 * version whose isolates all went (idle expiry, the memory budget's eviction) compiles from its
 * cache when it comes back, and so does a replaced host. Code caches are V8's to check: one made
 * by another V8 or with other flags, or a damaged file, is rejected at compile and made again.
 *
 * One folder per host, never shared: a host runs tenant code, and a code cache is compiled code
 * that V8 trusts once its header checks pass, so one host's files must not reach another's
 * isolates. Nothing is fsynced: a file lost in a crash is compiled again.
 */
export class CodeCacheFolder {
  readonly #dir: string;
  #made: Promise<unknown> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The cache of `artifactSha256`, or undefined when none was written (or it cannot be read). */
  async read(artifactSha256: string): Promise<ivm.ExternalCopy<ArrayBuffer> | undefined> {
    const path = this.#path(artifactSha256);
    if (path === undefined) return undefined;
    try {
      // Looked for on the calling thread: a first load finds none, and a trip to libuv's pool to
      // be told so cost ~0.4 ms of a cold start on these machines. A small cache is read here too.
      const size = statSync(path, { throwIfNoEntry: false })?.size;
      if (!size) return undefined;
      const bytes = size <= READ_INLINE_MAX_BYTES ? readFileSync(path) : await readFile(path);
      if (bytes.byteLength === 0) return undefined;
      return new ivm.ExternalCopy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch {
      return undefined;
    }
  }

  /** Writes (or replaces) the cache of `artifactSha256`; a failure only costs a later compile. */
  async write(artifactSha256: string, cachedData: ivm.ExternalCopy<ArrayBuffer>): Promise<void> {
    const path = this.#path(artifactSha256);
    if (path === undefined) return;
    // Staged and renamed: a reader sees a whole file or none.
    const staged = join(this.#dir, `.${randomUUID()}.tmp`);
    try {
      this.#made ??= mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await this.#made;
      await writeFile(staged, new Uint8Array(cachedData.copy()), { flag: 'wx' });
      await rename(staged, path);
    } catch {
      this.#made = undefined;
      await rm(staged, { force: true }).catch(() => {});
    }
  }

  /** Removes the cache of `artifactSha256` (V8 refused it): the next compile makes another. */
  async remove(artifactSha256: string): Promise<void> {
    const path = this.#path(artifactSha256);
    if (path !== undefined) await rm(path, { force: true }).catch(() => {});
  }

  #path(artifactSha256: string): string | undefined {
    const file = codeCacheFile(artifactSha256);
    return file === undefined ? undefined : join(this.#dir, file);
  }
}
