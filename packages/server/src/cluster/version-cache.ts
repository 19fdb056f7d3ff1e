import type { FunctionVersion } from '@faas/core';
import { versionDigest } from './version-digest.ts';

/** Versions a worker keeps at most; past it the least recently called goes (it is sent again if called). */
export const VERSION_CACHE_ENTRIES = 1024;

/**
 * The function versions a worker was sent by its gateways, by digest (version-digest.ts): a
 * gateway's call names the version by digest alone, and sends the whole version only when the
 * worker answers that it has no copy of that digest (a new worker, one restarted, an entry
 * evicted or retired). A digest names content, so a copy found is the one the gateway means.
 */
export class VersionCache {
  #byDigest = new Map<string, FunctionVersion>();
  #max: number;

  constructor(max = VERSION_CACHE_ENTRIES) {
    this.#max = max;
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** The version of that digest, if kept; it becomes the most recently called. */
  get(digest: string): FunctionVersion | undefined {
    const fn = this.#byDigest.get(digest);
    if (fn !== undefined) {
      this.#byDigest.delete(digest);
      this.#byDigest.set(digest, fn);
    }
    return fn;
  }

  /**
   * Keeps `fn` under its own digest, computed here: a version is never kept under a digest its
   * content does not have. Returns that digest.
   */
  put(fn: FunctionVersion): string {
    const digest = versionDigest(fn);
    this.#byDigest.delete(digest);
    this.#byDigest.set(digest, fn);
    if (this.#byDigest.size > this.#max) {
      const oldest = this.#byDigest.keys().next().value as string;
      this.#byDigest.delete(oldest);
    }
    return digest;
  }

  /** Forgets a retired function's versions (one version, or all of them). */
  retire(name: string, version?: number): void {
    for (const [digest, fn] of this.#byDigest) {
      if (fn.name === name && (version === undefined || fn.version === version))
        this.#byDigest.delete(digest);
    }
  }
}
