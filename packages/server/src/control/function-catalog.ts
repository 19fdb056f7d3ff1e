import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type MetadataStore,
  shownName,
  type VersionRef,
} from '@faas/core';
import type { PlatformChange } from './change-feed.ts';

const MAX_CACHED_VERSIONS = 10_000;

/**
 * Resolves `name` / `name:version` to a FunctionVersion without touching the store on the hot path.
 * Versions are immutable, so they are cached (bounded) until their function is deleted; which
 * version is `latest` is cached until this process changes the function. When the store's
 * revision moves (another process wrote), both go, see `invalidate`: that process may have
 * deleted a function and made a new one of its name, whose version 2 is not the old one's.
 */
export class FunctionCatalog {
  #store: MetadataStore;
  #latest = new Map<string, FunctionVersion>();
  #versions = new Map<string, FunctionVersion>();
  #onChange: (change: PlatformChange) => void;

  /** `onChange` hears of every change to what is cached, for the other gateway threads' catalogs. */
  constructor(store: MetadataStore, onChange: (change: PlatformChange) => void = () => {}) {
    this.#store = store;
    this.#onChange = onChange;
  }

  /** What `resolve` would answer without asking the store, if anything: no promise to wait on. */
  cached(name: string, ref: VersionRef = 'latest'): FunctionVersion | undefined {
    return ref === 'latest' ? this.#latest.get(name) : this.#versions.get(`${name}:${ref}`);
  }

  async resolve(name: string, ref: VersionRef = 'latest'): Promise<FunctionVersion> {
    if (ref === 'latest') {
      const cached = this.#latest.get(name);
      if (cached) return cached;
      const record = await this.#store.getFunction(name);
      if (!record) throw notFound(name);
      this.#latest.set(name, record.latest);
      this.#remember(record.latest);
      return record.latest;
    }
    const key = `${name}:${ref}`;
    const cached = this.#versions.get(key);
    if (cached) return cached;
    const version = await this.#store.getVersion(name, ref);
    if (!version) {
      if (!(await this.#store.getFunction(name))) throw notFound(name);
      throw new FaasError(
        ErrorCode.VERSION_NOT_FOUND,
        `Function "${shownName(name)}" has no version ${ref}`,
        {
          details: { name: shownName(name), version: ref },
        },
      );
    }
    this.#remember(version);
    return version;
  }

  /** What `resolve(name)` would answer without asking the store, if anything. */
  cachedLatest(name: string): FunctionVersion | undefined {
    return this.#latest.get(name);
  }

  /** This process wrote a new latest version. */
  setLatest(version: FunctionVersion): void {
    this.#latest.set(version.name, version);
    this.#remember(version);
    this.#onChange({ kind: 'latest', version });
  }

  /** Forgets which version is latest (one function), or everything after an outside change. */
  invalidate(name?: string): void {
    if (name === undefined) {
      this.#latest.clear();
      this.#versions.clear();
    } else this.#latest.delete(name);
    this.#onChange(name === undefined ? { kind: 'invalidate' } : { kind: 'invalidate', name });
  }

  /** The function is gone: forget its versions too (a new function of that name starts at 1). */
  forget(name: string): void {
    this.#latest.delete(name);
    for (const key of this.#versions.keys()) if (key.startsWith(`${name}:`)) this.#versions.delete(key);
    this.#onChange({ kind: 'forget', name });
  }

  #remember(v: FunctionVersion): void {
    if (this.#versions.size >= MAX_CACHED_VERSIONS) this.#versions.clear();
    this.#versions.set(`${v.name}:${v.version}`, v);
  }
}

/** @param name stored or shown: the error says the name the project knows. */
export function notFound(name: string): FaasError {
  const shown = shownName(name);
  return new FaasError(ErrorCode.FUNCTION_NOT_FOUND, `Function "${shown}" not found`, {
    details: { name: shown },
  });
}

/** Parses `name` or `name:3`, and an optional `?version=` that must agree with it. */
export function parseFunctionRef(raw: string, versionParam?: string): { name: string; ref: VersionRef } {
  const colon = raw.lastIndexOf(':');
  const name = colon >= 0 ? raw.slice(0, colon) : raw;
  const fromName = colon >= 0 ? raw.slice(colon + 1) : undefined;
  if (versionParam !== undefined && fromName !== undefined && versionParam !== fromName) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      `the version is given twice: "${fromName}" in the name, "${versionParam}" in the query`,
      { details: [{ field: 'version', message: 'give the version in the name or the query, not both' }] },
    );
  }
  const text = versionParam ?? fromName;
  if (text === undefined || text === 'latest') return { name, ref: 'latest' };
  // Digits only: Number() would also take `0x2`, `1e0` and ` 1` as versions 2 and 1.
  const n = /^[1-9][0-9]{0,14}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n)) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      `version must be a positive integer or "latest", got "${text}"`,
      {
        details: [{ field: 'version', message: 'must be a positive integer or "latest"' }],
      },
    );
  }
  return { name, ref: n };
}
