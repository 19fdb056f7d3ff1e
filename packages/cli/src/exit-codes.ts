import { FaasApiError, FaasConnectionError } from '@faas/sdk';

/** What `faas` exits with; documented in docs/cli.md. */
export const EXIT = {
  OK: 0,
  FUNCTION_FAILED: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  UNREACHABLE: 5,
  REJECTED: 6,
  SERVER_ERROR: 7,
} as const;

/** A failure the user should read, with the exit code it means. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * An error of a local file operation (Node's fs errors carry the path): bad input, not a failure
 * of the server. Network errors carry an address instead.
 */
export function localFileError(err: unknown): err is NodeJS.ErrnoException & { path: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).path === 'string' && 'syscall' in err;
}

/** `no such file or directory (ENOENT)` from Node's `ENOENT: no such file or directory, open '/x'`. */
export function fileProblem(err: NodeJS.ErrnoException): string {
  const what = err.message.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/s, '');
  return err.code ? `${what} (${err.code})` : what;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (localFileError(err)) return EXIT.USAGE;
  if (err instanceof FaasConnectionError) return EXIT.UNREACHABLE;
  if (err instanceof FaasApiError) {
    if (err.status === 401 || err.status === 403) return EXIT.AUTH;
    if (err.status === 404) return EXIT.NOT_FOUND;
    if (err.status >= 500) return EXIT.SERVER_ERROR;
    return EXIT.REJECTED;
  }
  return EXIT.SERVER_ERROR;
}

/** One line (or a few, for compile errors) for people: the API's code and message, no stack. */
export function describeError(err: unknown): string {
  if (err instanceof FaasApiError) {
    let text = `${err.code}: ${err.message}`;
    // One problem is already the message; list them when there are several.
    if (Array.isArray(err.details) && err.details.length > 1) {
      for (const d of err.details as Array<Record<string, unknown>>) {
        if (d.file) text += `\n  ${d.file}:${d.line}:${d.column}: ${d.message}`;
        else if (d.field) text += `\n  ${d.field}: ${d.message}`;
      }
    }
    return text;
  }
  // A local file: the path once, then what went wrong.
  if (localFileError(err)) return `${err.path}: ${fileProblem(err)}`;
  return (err as Error)?.message ?? String(err);
}

/**
 * The error as `--json` prints it on stdout: the API's own body for an API error, and the same
 * shape with a `FAAS_CLI_*` code for failures of the CLI itself (documented in docs/cli.md).
 */
export function errorJson(err: unknown): { error: { code: string; message: string; details?: unknown } } {
  if (err instanceof FaasApiError) {
    return {
      error: {
        code: err.code,
        message: err.message,
        ...(err.details === undefined ? {} : { details: err.details }),
      },
    };
  }
  const code =
    err instanceof FaasConnectionError || (err instanceof CliError && err.exitCode === EXIT.UNREACHABLE)
      ? 'FAAS_CLI_UNREACHABLE'
      : exitCodeFor(err) === EXIT.USAGE
        ? 'FAAS_CLI_USAGE'
        : 'FAAS_CLI_ERROR';
  return { error: { code, message: describeError(err) } };
}
