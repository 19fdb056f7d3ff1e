import {
  type InvocationError,
  type InvokeMetrics,
  type InvokeOutcome,
  jsonNestsDeeperThan,
  MAX_JSON_DEPTH,
} from '@faas/core';

/** How an attempt that did not produce a reply ended. */
export type Stop = 'timeout' | 'out_of_memory' | 'aborted';

/** States the configured limit: the time measured can be less (queued behind others) or a little more. */
export function timeoutError(timeoutMs: number): InvocationError {
  return { type: 'Timeout', message: `The function did not finish within its timeout of ${timeoutMs} ms` };
}

export function outOfMemoryError(memoryMb: number): InvocationError {
  return { type: 'OutOfMemory', message: `The function exceeded its memory limit of ${memoryMb} MB` };
}

export const ABORTED_ERROR: InvocationError = { type: 'Aborted', message: 'The invocation was cancelled' };

/** isolated-vm's message when the memory limit disposed the isolate. */
export function isMemoryLimitError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('memory limit');
}

/** isolated-vm's message when a synchronous call ran past its `timeout`. */
export function isTimeoutError(err: unknown): boolean {
  return err instanceof Error && err.message === 'Script execution timed out.';
}

/** Large ArrayBuffers fail with this RangeError when external memory is exhausted. */
function isAllocationFailure(error: InvocationError): boolean {
  return error.type === 'RangeError' && error.message === 'Array buffer allocation failed';
}

/**
 * The limits the prelude clips an error to (prelude/invoke.js). It runs in the function's realm,
 * whose code may have replaced what it clips with: the host clips again.
 */
const MAX_ERROR_TYPE_CHARS = 200;
const MAX_ERROR_MESSAGE_CHARS = 8192;
const MAX_STACK_CHARS = 16_384;

/** `text` cut to `max` characters, saying how many were cut, as the prelude does. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… [${text.length - max} more characters]` : text;
}

/** An error of the function's, its fields within the documented limits. */
export function clippedError(type: unknown, message: unknown, stack: unknown): InvocationError {
  return {
    type: typeof type === 'string' ? clip(type, MAX_ERROR_TYPE_CHARS) : 'Error',
    message: typeof message === 'string' ? clip(message, MAX_ERROR_MESSAGE_CHARS) : '',
    ...(typeof stack === 'string' ? { stack: clip(stack, MAX_STACK_CHARS) } : {}),
  };
}

function parseError(json: string): InvocationError {
  try {
    const value = JSON.parse(json) as Partial<InvocationError> | null;
    return clippedError(value?.type, value?.message, value?.stack);
  } catch {
    return { type: 'Error', message: 'The function failed with an unreadable error' };
  }
}

/** The outcome a prelude reply (see prelude/invoke.js) stands for. */
export function decodeReply(reply: unknown, metrics: InvokeMetrics, maxResultBytes: number): InvokeOutcome {
  if (typeof reply !== 'string' || reply.length === 0) {
    return {
      status: 'failed',
      error: { type: 'InternalError', message: 'The isolate sent no reply' },
      metrics,
    };
  }
  const body = reply.slice(1);
  switch (reply[0]) {
    case 'U':
      return { status: 'succeeded', result: undefined, metrics };
    case 'R': {
      // Characters undercount UTF-8 bytes by up to 3x: measure exactly only when it can matter.
      if (body.length * 3 > maxResultBytes && Buffer.byteLength(body) > maxResultBytes) {
        const message = `The function's result is too large: ${Buffer.byteLength(body)} bytes of JSON, the limit is ${maxResultBytes} bytes`;
        return { status: 'failed', error: { type: 'InvalidResult', message }, metrics };
      }
      if (jsonNestsDeeperThan(body)) {
        const message = `The function's result nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`;
        return { status: 'failed', error: { type: 'InvalidResult', message }, metrics };
      }
      try {
        return { status: 'succeeded', result: JSON.parse(body), metrics };
      } catch {
        return {
          status: 'failed',
          error: { type: 'InternalError', message: 'The isolate sent unreadable JSON' },
          metrics,
        };
      }
    }
    case 'B':
      // One character per byte. The prelude checked the size in the function's realm, where a
      // typed array's length can lie: this is the check that holds.
      if (body.length > maxResultBytes) {
        const message = `The function's result is too large: ${body.length} bytes, the limit is ${maxResultBytes} bytes`;
        return { status: 'failed', error: { type: 'InvalidResult', message }, metrics };
      }
      return { status: 'succeeded', result: new Uint8Array(Buffer.from(body, 'latin1')), metrics };
    case 'E': {
      const error = parseError(body);
      return { status: isAllocationFailure(error) ? 'out_of_memory' : 'failed', error, metrics };
    }
    case 'X':
      return { status: 'failed', error: clippedError('InvalidResult', body, undefined), metrics };
    default:
      return {
        status: 'failed',
        error: { type: 'InternalError', message: 'The isolate sent an unknown reply' },
        metrics,
      };
  }
}
