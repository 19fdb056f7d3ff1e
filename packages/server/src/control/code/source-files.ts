import { type ErrorCode, FaasError } from '@faas/core';

/** A function's source: relative POSIX paths (`src/api.ts`) to their bytes. */
export type SourceFiles = Map<string, Uint8Array>;

/** Limits on code as it arrives; `maxBytes` comes from config, the rest are fixed. */
export interface CodeLimits {
  /** Largest total uncompressed size of all files. */
  maxBytes: number;
  /** Most files one function may have. @default 10000 */
  maxFiles?: number;
}

export const DEFAULT_MAX_FILES = 10_000;
/** Longer paths are refused: no real project needs them and they cost a PAX header each. */
export const MAX_PATH_BYTES = 1024;

/**
 * Checks and canonicalises one path from the caller: strips a leading `./`, and refuses anything
 * that could land outside the function's folder when unpacked or that means different things on
 * different systems (absolute paths, `..`, backslashes, NUL, drive letters, empty segments).
 * Returns the problem as text, or the clean path.
 */
export function checkPath(raw: string): { path: string } | { problem: string } {
  let path = raw;
  while (path.startsWith('./')) path = path.slice(2);
  if (path === '') return { problem: 'empty path' };
  if (path.includes('\0')) return { problem: 'contains a NUL character' };
  if (path.includes('\\')) return { problem: 'contains a backslash (paths must use "/")' };
  if (path.startsWith('/')) return { problem: 'is absolute' };
  if (/^[A-Za-z]:/.test(path)) return { problem: 'starts with a drive letter' };
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return { problem: `is longer than ${MAX_PATH_BYTES} bytes` };
  for (const segment of path.split('/')) {
    if (segment === '..') return { problem: 'leaves the code folder ("..")' };
    if (segment === '.' || segment === '') return { problem: 'has an empty or "." segment' };
  }
  return { path };
}

/**
 * Collects files while enforcing the limits as bytes arrive, so a zip bomb is stopped once it
 * passes `maxBytes` rather than after it has been inflated.
 */
export class SourceCollector {
  readonly files: SourceFiles = new Map();
  #limits: Required<CodeLimits>;
  #code: ErrorCode;
  #what: string;
  #totalBytes = 0;
  #folders = new Set<string>();

  /** `code` and `what` ("the archive", "code.files") shape the errors it throws. */
  constructor(limits: CodeLimits, code: ErrorCode, what: string) {
    this.#limits = { maxFiles: DEFAULT_MAX_FILES, ...limits };
    this.#code = code;
    this.#what = what;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Validates a path about to be added; returns the clean path. */
  path(raw: string): string {
    const checked = checkPath(raw);
    if ('problem' in checked)
      this.fail(`${this.#what} has a bad path ${JSON.stringify(raw)}: ${checked.problem}`);
    const path = checked.path;
    if (this.files.has(path)) this.fail(`${this.#what} has ${JSON.stringify(path)} twice`);
    if (this.#folders.has(path))
      this.fail(`${this.#what} has ${JSON.stringify(path)} as both a file and a folder`);
    if (this.files.size >= this.#limits.maxFiles) {
      this.fail(`${this.#what} has more than ${this.#limits.maxFiles} files`);
    }
    return path;
  }

  /** Counts bytes about to be read; throws as soon as the total passes the limit. */
  count(bytes: number): void {
    this.#totalBytes += bytes;
    if (this.#totalBytes > this.#limits.maxBytes) {
      this.fail(`${this.#what} is larger than ${this.#limits.maxBytes} bytes uncompressed`);
    }
  }

  /** Adds a file already counted with `count`. `path` must come from `path()`. */
  add(path: string, bytes: Uint8Array): void {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if (this.files.has(folder)) {
        this.fail(`${this.#what} has ${JSON.stringify(folder)} as both a file and a folder`);
      }
      this.#folders.add(folder);
    }
    this.files.set(path, bytes);
  }

  /** The files, refusing an empty set unless `allowEmpty`. */
  done(allowEmpty = false): SourceFiles {
    if (this.files.size === 0 && !allowEmpty) this.fail(`${this.#what} contains no files: the code is empty`);
    return this.files;
  }

  fail(message: string, cause?: unknown): never {
    throw new FaasError(this.#code, message, {
      details: [{ field: 'code', message }],
      ...(cause === undefined ? {} : { cause }),
    });
  }
}
