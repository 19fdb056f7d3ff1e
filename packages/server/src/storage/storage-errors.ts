import { type BackendHealth, ErrorCode, FaasError } from '@faas/core';

/** SQLite's primary result codes that mean the storage, not the statement, failed. */
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_PROTOCOL = 15;
const SQLITE_NOTADB = 26;
/** IOERR_SHMSIZE: no room to grow the WAL's shared-memory index, which is how a full disk shows at open. */
const SQLITE_IOERR_SHMSIZE = SQLITE_IOERR | (19 << 8);
const UNAVAILABLE = new Set([
  SQLITE_PERM,
  SQLITE_BUSY,
  SQLITE_LOCKED,
  SQLITE_IOERR,
  SQLITE_CORRUPT,
  SQLITE_CANTOPEN,
  SQLITE_PROTOCOL,
  SQLITE_NOTADB,
]);

/** How long a failed read or write keeps a backend reported unhealthy. */
export const FAILURE_WINDOW_MS = 30_000;

interface SqliteError {
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
  message?: unknown;
}

/**
 * A `node:sqlite` error about the storage (disk full, read-only, I/O, lock held too long) as the
 * FaasError an API caller gets; anything else (a constraint, a bug in a statement) unchanged.
 * `backend` names the component ("store", "queue") for the message and `/ready`.
 */
export function toStorageError(err: unknown, backend: string, path: string): unknown {
  const e = err as SqliteError | null;
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const primary = e.errcode & 0xff;
  const reason = typeof e.errstr === 'string' ? e.errstr : String(e.message);
  const details = { backend, path, sqlite: reason };
  if (primary === SQLITE_FULL || e.errcode === SQLITE_IOERR_SHMSIZE) {
    return new FaasError(
      ErrorCode.STORAGE_FULL,
      `The ${backend}'s disk is full (${path}): nothing was written`,
      {
        details,
        cause: err,
      },
    );
  }
  if (primary === SQLITE_READONLY) {
    return new FaasError(ErrorCode.STORAGE_READ_ONLY, `The ${backend}'s database ${path} is read-only`, {
      details,
      cause: err,
    });
  }
  if (UNAVAILABLE.has(primary)) {
    return new FaasError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `The ${backend}'s database ${path} failed: ${reason}`,
      {
        details,
        cause: err,
      },
    );
  }
  return err;
}

/** File-system errors that mean the disk, not the caller, failed. */
const FS_FULL = new Set(['ENOSPC', 'EDQUOT']);
const FS_READ_ONLY = new Set(['EROFS']);
const FS_UNAVAILABLE = new Set(['EIO', 'EACCES', 'EPERM']);

/** A file-system error of a storage backend (blobs, the data dir) as the FaasError a caller gets. */
export function toFsStorageError(err: unknown, backend: string, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return err;
  const details = { backend, path, errno: code };
  if (FS_FULL.has(code)) {
    return new FaasError(
      ErrorCode.STORAGE_FULL,
      `The disk under ${path} (${backend}) is full: nothing was written`,
      {
        details,
        cause: err,
      },
    );
  }
  if (FS_READ_ONLY.has(code)) {
    return new FaasError(ErrorCode.STORAGE_READ_ONLY, `${path} (${backend}) is on a read-only file system`, {
      details,
      cause: err,
    });
  }
  if (FS_UNAVAILABLE.has(code)) {
    return new FaasError(ErrorCode.STORAGE_UNAVAILABLE, `${path} (${backend}) failed: ${code}`, {
      details,
      cause: err,
    });
  }
  return err;
}

const STORAGE_CODES = new Set<string>([
  ErrorCode.STORAGE_FULL,
  ErrorCode.STORAGE_READ_ONLY,
  ErrorCode.STORAGE_UNAVAILABLE,
]);

/** Whether an error is a storage failure (rather than a fault of the call itself). */
export function isStorageError(err: unknown): err is FaasError {
  return err instanceof FaasError && STORAGE_CODES.has(err.code);
}

/**
 * Remembers the last storage failure of one database, so `/ready` can say which backend fails
 * even between the calls that see it (a full disk fails writes, not the reads a probe makes).
 */
export class FailureMemory {
  #last: { error: FaasError; at: number } | undefined;
  #windowMs: number;
  #now: () => number;

  constructor(windowMs = FAILURE_WINDOW_MS, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  note(error: FaasError): void {
    this.#last = { error, at: this.#now() };
  }

  /** Unhealthy while the last failure is younger than the window. */
  health(): BackendHealth {
    const last = this.#last;
    if (!last || this.#now() - last.at >= this.#windowMs) return { ok: true };
    const agoS = Math.round((this.#now() - last.at) / 1000);
    return { ok: false, code: last.error.code, reason: `${last.error.message} (${agoS} s ago)` };
  }
}
