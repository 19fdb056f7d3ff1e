import { ErrorCode, FaasError } from '@faas/core';
import type { Message } from 'esbuild';
import { FILES_NAMESPACE } from './virtual-files-plugin.ts';

/** Where and why the build failed; `line` and `column` are 1-based, as editors count them. */
export interface CompileProblem {
  file?: string;
  line?: number;
  column?: number;
  message: string;
  lineText?: string;
}

/** Turns esbuild's messages into one COMPILE_ERROR: the first problem in the message, all in details. */
export function compileError(messages: Message[], cause?: unknown): FaasError {
  const problems = messages.map(toProblem);
  const first = problems[0];
  const where = first?.file === undefined ? '' : `${first.file}:${first.line}:${first.column}: `;
  const more =
    problems.length > 1 ? ` (and ${problems.length - 1} more error${problems.length > 2 ? 's' : ''})` : '';
  return new FaasError(ErrorCode.COMPILE_ERROR, `${where}${first?.message ?? 'the build failed'}${more}`, {
    details: problems,
    cause,
  });
}

export function compileProblem(problem: CompileProblem): FaasError {
  const where = problem.file === undefined ? '' : `${problem.file}: `;
  return new FaasError(ErrorCode.COMPILE_ERROR, `${where}${problem.message}`, { details: [problem] });
}

function toProblem(message: Message): CompileProblem {
  const text = message.text.startsWith('Top-level await is not available')
    ? 'Top-level await is not supported: the isolate runtime runs the code as a classic script'
    : message.text;
  const location = message.location;
  if (!location) return { message: text };
  const prefix = `${FILES_NAMESPACE}:`;
  return {
    file: location.file.startsWith(prefix) ? location.file.slice(prefix.length) : location.file,
    line: location.line,
    column: location.column + 1,
    message: text,
    lineText: location.lineText,
  };
}

/** Whether an error is esbuild's build or transform failure, which carries its messages. */
export function isEsbuildFailure(err: unknown): err is Error & { errors: Message[] } {
  return err instanceof Error && Array.isArray((err as { errors?: unknown }).errors);
}
