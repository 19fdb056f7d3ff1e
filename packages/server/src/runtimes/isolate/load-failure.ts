import type { FunctionVersion, InvocationError } from '@faas/core';
import { clippedError, isMemoryLimitError, outOfMemoryError, timeoutError } from './outcome.ts';

/** Why a version could not be loaded into an isolate: the function's fault, as an outcome. */
export class LoadFailure extends Error {
  readonly status: 'failed' | 'timed_out' | 'out_of_memory';
  readonly error: InvocationError;

  constructor(status: LoadFailure['status'], error: InvocationError) {
    super(error.message);
    this.name = 'LoadFailure';
    this.status = status;
    this.error = error;
  }
}

/** What an error thrown while running the artifact's script (or binding its handler) means. */
export function describeLoadError(err: unknown, isolateDisposed: boolean, fn: FunctionVersion): LoadFailure {
  if (isMemoryLimitError(err) || isolateDisposed) {
    return new LoadFailure('out_of_memory', outOfMemoryError(fn.memoryMb));
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.message.includes('execution timed out')) {
    return new LoadFailure('timed_out', timeoutError(fn.timeoutMs));
  }
  // Frames past the boundary are the host's, not the function's.
  const stack = e.stack?.split('\n<isolated-vm boundary>')[0]?.split('\n    at (<isolated-vm boundary>)')[0];
  return new LoadFailure(
    'failed',
    clippedError(e.name || 'Error', `The function failed to load: ${e.message}`, stack || undefined),
  );
}
