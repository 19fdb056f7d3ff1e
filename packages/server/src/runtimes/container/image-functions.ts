import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  isFaasError,
  jsonNestsDeeperThan,
} from '@faas/core';
import { envWithTrace } from '../trace-env.ts';
import { missingImageMessage } from './docker-engine.ts';
import type { SandboxPools } from './sandbox/sandbox-pools.ts';

/** Past this, the payload goes on stdin only: one environment variable holds at most 128 KiB. */
const MAX_ENV_PAYLOAD_BYTES = 100 * 1024;

function payloadBytes(event: unknown): Buffer {
  if (event instanceof Uint8Array) return Buffer.from(event);
  if (typeof event === 'string') return Buffer.from(event, 'utf8');
  return Buffer.from(JSON.stringify(event ?? null), 'utf8');
}

function parseResult(stdout: string): unknown {
  const text = stdout.trim();
  if (text === '') return null;
  if (jsonNestsDeeperThan(text)) return stdout;
  try {
    return JSON.parse(text);
  } catch {
    return stdout;
  }
}

/**
 * `runtime: "image"`: any local image with `fn.command` (a string runs with the image's
 * `/bin/sh -c`, as everywhere else), one fresh sandbox per invocation. The
 * payload arrives on stdin and in FUNCTION_PAYLOAD; stdout is the result (JSON when it parses);
 * stderr lines are the logs; a non-zero exit fails the invocation.
 */
export class ImageFunctions {
  #sandboxes: SandboxPools;
  #maxResultBytes: number;

  /** `maxResultBytes`: the largest stdout taken as a result, as every runtime's result limit. */
  constructor(sandboxes: SandboxPools, maxResultBytes: number) {
    this.#sandboxes = sandboxes;
    this.#maxResultBytes = maxResultBytes;
  }

  async prepare(fn: FunctionVersion): Promise<void> {
    const { image, command } = requireImage(fn);
    if (command.length === 0) throw new FaasError(ErrorCode.VALIDATION, 'An image function needs a command');
    if (!(await this.#sandboxes.hasImage(image))) {
      throw new FaasError(ErrorCode.COMPILE_ERROR, missingImageMessage(image));
    }
    await this.#sandboxes.checkHost(fn.network ?? false);
  }

  async invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    const { fn } = request;
    const started = performance.now();
    const payload = payloadBytes(request.event);
    let image: string;
    let command: string | string[];
    try {
      ({ image, command } = requireImage(fn));
    } catch (err) {
      return {
        status: 'failed',
        error: { type: 'InvalidFunction', message: (err as Error).message },
        metrics: { durationMs: 0 },
      };
    }
    const env: Record<string, string> = { ...envWithTrace(fn.env, request.trace) };
    if (payload.length <= MAX_ENV_PAYLOAD_BYTES) env.FUNCTION_PAYLOAD = payload.toString('utf8');
    try {
      const run = await this.#sandboxes.run({
        image,
        command,
        env,
        stdin: payload,
        timeoutMs: Math.max(1, request.deadline - Date.now()),
        memoryMb: fn.memoryMb,
        network: fn.network ?? false,
        isolation: fn.isolation ?? 'runc',
        workdir: null,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      for (const line of run.stderr.split('\n')) if (line.length > 0) request.log('error', line);
      const metrics = { durationMs: run.durationMs };
      if (run.timedOut) {
        return {
          status: 'timed_out',
          error: { type: 'Timeout', message: `The function did not finish within ${fn.timeoutMs} ms` },
          metrics,
        };
      }
      if (run.oomKilled) {
        return {
          status: 'out_of_memory',
          error: {
            type: 'OutOfMemory',
            message: `The function exceeded its memory limit of ${fn.memoryMb} MB`,
          },
          metrics,
        };
      }
      if (run.exitCode !== 0) {
        const tail = run.stderr.trim().split('\n').slice(-5).join('\n');
        return {
          status: 'failed',
          error: {
            type: 'ExitCode',
            message: `The command exited with code ${run.exitCode}${tail ? `: ${tail}` : ''}`,
          },
          metrics,
        };
      }
      const resultBytes = Buffer.byteLength(run.stdout);
      if (resultBytes > this.#maxResultBytes) {
        const size = run.truncated ? `more than ${resultBytes}` : String(resultBytes);
        const message = `The function's result is too large: ${size} bytes of output, the limit is ${this.#maxResultBytes} bytes`;
        return { status: 'failed', error: { type: 'InvalidResult', message }, metrics };
      }
      return { status: 'succeeded', result: parseResult(run.stdout), metrics };
    } catch (err) {
      if (isFaasError(err) && err.code !== ErrorCode.RUNTIME_UNAVAILABLE) {
        return {
          status: 'failed',
          error: { type: err.status === 400 ? 'ImageNotFound' : err.code, message: err.message },
          metrics: { durationMs: performance.now() - started },
        };
      }
      throw err;
    }
  }
}

function requireImage(fn: FunctionVersion): { image: string; command: string | string[] } {
  if (!fn.image) throw new FaasError(ErrorCode.VALIDATION, 'An image function needs an image');
  return { image: fn.image, command: fn.command ?? [] };
}
