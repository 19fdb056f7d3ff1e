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

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
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
      : err instanceof CliError && err.exitCode === EXIT.USAGE
        ? 'FAAS_CLI_USAGE'
        : 'FAAS_CLI_ERROR';
  return { error: { code, message: (err as Error)?.message ?? String(err) } };
}
