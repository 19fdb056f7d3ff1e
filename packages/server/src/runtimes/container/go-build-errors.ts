import { ErrorCode, FaasError } from '@faas/core';

/** The file the build generates to name the handler (go-builder.ts). */
const HANDLER_FILE = 'zz_faas_handler.go';
const HANDLER_SIGNATURE = 'func(ctx context.Context, event json.RawMessage) (any, error)';
/** `./main.go:7:2: undefined: x` (the column is absent on some errors). */
const LOCATED = /^(?:\.\/)?([^\s:]+\.go):(\d+)(?::(\d+))?: (.+)$/;
/** What Go says when a module is not in vendor/ and would have to come from the proxy. */
const NEEDS_PROXY =
  /GOPROXY=off|module lookup disabled|missing go\.sum entry|cannot find module providing package|no required module provides package|updates to go\.mod needed|inconsistent vendoring/;
const MAX_LINES = 10;
const MAX_MESSAGE_CHARS = 2000;

export interface GoCompileProblem {
  file: string;
  line: number;
  column?: number;
  message: string;
}

/**
 * The first compile error in `go build`'s output, where it is: file (relative to the code),
 * line and column. The output is the function's text as much as Go's: only a line of the
 * expected shape is taken, and its parts are bounded.
 */
export function firstCompileProblem(output: string): GoCompileProblem | undefined {
  for (const raw of output.split('\n')) {
    const match = LOCATED.exec(raw.trim().slice(0, MAX_MESSAGE_CHARS));
    if (!match) continue;
    const [, file = '', line = '0', column, message = ''] = match;
    const lineNumber = Number(line);
    if (!Number.isSafeInteger(lineNumber)) continue;
    const columnNumber = column === undefined ? undefined : Number(column);
    return {
      file,
      line: lineNumber,
      ...(columnNumber !== undefined && Number.isSafeInteger(columnNumber) ? { column: columnNumber } : {}),
      message,
    };
  }
  return undefined;
}

/**
 * A failed `go build` as the deploy's answer (422 COMPILE_ERROR): a module the proxy would have
 * to provide, a handler that is missing or has the wrong type, or the first error at its line.
 */
export function goBuildFailure(output: string, handlerName: string): FaasError {
  const tail = output
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('# '))
    .slice(-MAX_LINES)
    .join('\n')
    .slice(-MAX_MESSAGE_CHARS);
  if (NEEDS_PROXY.test(output)) {
    return new FaasError(
      ErrorCode.COMPILE_ERROR,
      'The go function needs modules that are not in its vendor/ folder, and the Go module proxy is ' +
        'unreachable from this server: run `go mod vendor` and deploy the vendor/ folder with the code. ' +
        `Go said: ${tail}`,
      { details: [{ type: 'ModuleProxyUnreachable', message: tail }] },
    );
  }
  const problem = firstCompileProblem(output);
  if (problem?.file === HANDLER_FILE) {
    const message = /undefined/.test(problem.message)
      ? `The handler function ${handlerName} is not in package main`
      : `The handler ${handlerName} must be a ${HANDLER_SIGNATURE} (${problem.message})`;
    return new FaasError(ErrorCode.COMPILE_ERROR, message, {
      details: [{ field: 'handler', type: 'CompileError', message }],
    });
  }
  if (problem) {
    const where = `${problem.file}:${problem.line}${problem.column ? `:${problem.column}` : ''}`;
    return new FaasError(
      ErrorCode.COMPILE_ERROR,
      `The go function did not compile: ${where}: ${problem.message}`,
      {
        details: [{ ...problem, type: 'CompileError', output: tail }],
      },
    );
  }
  return new FaasError(ErrorCode.COMPILE_ERROR, `Building the go function failed: ${tail}`, {
    details: [{ type: 'CompileError', message: tail }],
  });
}
