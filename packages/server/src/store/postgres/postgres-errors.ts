import { ErrorCode, FaasError } from '@faas/core';

/** The parts of node-postgres's DatabaseError (a server's answer) and of socket errors read here. */
interface PgError {
  code?: unknown;
  message?: unknown;
  severity?: unknown;
}

/**
 * SQLSTATE classes and codes that mean the database, not the statement, failed (PostgreSQL's
 * appendix A): a lost or refused connection, a server shutting down, too many connections, no
 * memory, a cancelled (timed out) statement, a lock not granted, a lost transaction race.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '57', '58', 'XX', '28', '3D', '53']);
const UNAVAILABLE_CODES = new Set(['40001', '40P01', '55P03', '55006', '42501']);
const DISK_FULL = '53100';
const READ_ONLY = '25006';
/** Data the column or index cannot hold (a value out of range, a key too long for an index). */
const INVALID_DATA_CLASS = '22';
const PROGRAM_LIMIT = '54000';

/** Node's socket and DNS errors: the server is not there (or not reachable from here). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT',
]);
/** node-postgres's own messages for a connection that failed or timed out (they carry no code). */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection ended|connection error/i;

/**
 * A node-postgres error as the FaasError an API caller gets: an unreachable or failing database
 * is STORAGE_UNAVAILABLE (503), a full disk STORAGE_FULL, a read-only server (a standby)
 * STORAGE_READ_ONLY, data the database cannot hold VALIDATION; anything else (a bug in a
 * statement) unchanged. `where` names the database for people without its password.
 */
export function toPostgresError(err: unknown, where: string): unknown {
  if (err instanceof FaasError) return err;
  const e = err as PgError | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const reason = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  const fromServer = typeof e?.severity === 'string';
  const details = { backend: 'store', database: where, ...(code ? { sqlstate: code } : {}), reason };
  const fail = (errorCode: ErrorCode, message: string) =>
    new FaasError(errorCode, message, { details, cause: err });
  if (fromServer && code) {
    if (code === DISK_FULL)
      return fail(ErrorCode.STORAGE_FULL, `The store's database ${where} is out of disk space: ${reason}`);
    if (code === READ_ONLY)
      return fail(ErrorCode.STORAGE_READ_ONLY, `The store's database ${where} is read-only: ${reason}`);
    if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2))) {
      return fail(ErrorCode.STORAGE_UNAVAILABLE, `The store's database ${where} failed: ${reason}`);
    }
    if (code.startsWith(INVALID_DATA_CLASS) || code === PROGRAM_LIMIT) {
      // The caller's data, answered to the caller (a tenant): where the database is is not theirs.
      return new FaasError(ErrorCode.VALIDATION, `The store cannot hold this data: ${reason}`, {
        details: { backend: 'store', sqlstate: code, reason },
        cause: err,
      });
    }
    return err;
  }
  if ((code && SOCKET_CODES.has(code)) || CONNECTION_MESSAGES.test(reason)) {
    return fail(ErrorCode.STORAGE_UNAVAILABLE, `The store's database ${where} is unreachable: ${reason}`);
  }
  return err;
}

/** A failure that may pass when the transaction runs again: a serialization race or a deadlock. */
export function isRetryable(err: unknown): boolean {
  const code = (err as PgError | null)?.code;
  return code === '40001' || code === '40P01';
}

/**
 * The URL as people may see it: without its password (or any query options, which may hold
 * one), e.g. `postgres://faas@db.internal:5432/faas`.
 */
export function describeDatabaseUrl(raw: string): string {
  try {
    const url = new URL(raw);
    const user = url.username ? `${url.username}@` : '';
    return `${url.protocol}//${user}${url.host}${url.pathname}`;
  } catch {
    return '(an unparsable URL)';
  }
}
