import { type BlobStore, ErrorCode, FaasError, type FunctionVersion } from '@faas/core';
import type { CodeCacheFolder } from './code-cache-folder.ts';
import { type CodeCache, codeCache } from './compile.ts';
import { splitSourceMap } from './source-maps.ts';

/** One user's hold on an artifact; `release` once, when done with it. */
export interface ArtifactHandle {
  /**
   * The artifact's source and code cache, loaded once for all holders.
   * @throws FaasError COMPILE_ERROR when the blob is missing or is not UTF-8 text (not
   * remembered: the next call retries).
   */
  load(): Promise<CodeCache>;
  release(): void;
}

interface Entry {
  holders: number;
  loading?: Promise<CodeCache>;
}

/**
 * Artifact sources and their V8 code caches, by sha256 and the name stack traces show, for as long
 * as some version pool holds them: read from the blob store once, however many isolates compile
 * them. The name is part of the key because two functions (of two projects) may have the same
 * code: each one's stack traces must name itself. With a folder, code caches outlive that: a
 * version loaded again later compiles from the one its first load made.
 */
export class ArtifactCache {
  #blobs: BlobStore;
  #folder: CodeCacheFolder | undefined;
  #entries = new Map<string, Entry>();
  /** Bytes a deploy handed over (`lend`) while their blob is still being written, by sha256. */
  #lent = new Map<string, { bytes: Uint8Array; lenders: number }>();

  constructor(blobs: BlobStore, folder?: CodeCacheFolder) {
    this.#blobs = blobs;
    this.#folder = folder;
  }

  retain(fn: FunctionVersion): ArtifactHandle {
    const key = `${fn.artifactSha256} ${artifactFilename(fn)}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { holders: 0 };
      this.#entries.set(key, entry);
    }
    const held = entry;
    held.holders++;
    let released = false;
    return {
      load: () => {
        if (!held.loading) {
          const loading = this.#load(fn);
          held.loading = loading;
          loading.catch(() => {
            if (held.loading === loading) held.loading = undefined;
          });
        }
        return held.loading;
      },
      release: () => {
        if (released) return;
        released = true;
        if (--held.holders === 0 && this.#entries.get(key) === held) this.#entries.delete(key);
      },
    };
  }

  /**
   * Loads of `sha256` take these bytes instead of reading the blob store, until the function
   * answered is called.
   */
  lend(sha256: string, bytes: Uint8Array): () => void {
    const lent = this.#lent.get(sha256) ?? { bytes, lenders: 0 };
    this.#lent.set(sha256, lent);
    lent.lenders++;
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      if (--lent.lenders === 0 && this.#lent.get(sha256) === lent) this.#lent.delete(sha256);
    };
  }

  /** Artifacts currently held. */
  get size(): number {
    return this.#entries.size;
  }

  async #load(fn: FunctionVersion): Promise<CodeCache> {
    const sha = fn.artifactSha256;
    const folder = this.#folder;
    const lent = this.#lent.get(sha)?.bytes;
    const [bytes, cachedData] = await Promise.all([lent ?? this.#blobs.get(sha), folder?.read(sha)]);
    if (!bytes) {
      throw new FaasError(
        ErrorCode.COMPILE_ERROR,
        `The artifact ${fn.artifactSha256} of ${fn.name} version ${fn.version} is not in the blob store`,
      );
    }
    let source: string;
    try {
      source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (cause) {
      throw new FaasError(
        ErrorCode.COMPILE_ERROR,
        `The artifact of ${fn.name} version ${fn.version} is not UTF-8 text`,
        { cause },
      );
    }
    const { code, map } = splitSourceMap(source);
    const cache = codeCache(code, artifactFilename(fn), map);
    if (cachedData) cache.cachedData = cachedData;
    if (folder) cache.keep = (made) => void (made ? folder.write(sha, made) : folder.remove(sha));
    return cache;
  }
}

/** The name stack traces show for a version's code: `file:///<name>/<entry file>.js`. */
export function artifactFilename(fn: FunctionVersion): string {
  const dot = fn.handler.lastIndexOf('.');
  const file = dot > 0 ? fn.handler.slice(0, dot) : 'index';
  return `file:///${fn.name}/${file}.js`;
}

/** The export named by `handler` (`file.export`): the part after the last dot. */
export function handlerExport(fn: FunctionVersion): string {
  const dot = fn.handler.lastIndexOf('.');
  return dot === -1 ? 'default' : fn.handler.slice(dot + 1) || 'default';
}
