import type { InvocationError, InvokeMetrics, InvokeOutcome, InvokeRequest, LogSink } from '@faas/core';
import { AgentFatalError, AgentGoneError, AgentProtocolError, type AgentResult } from './agent-channel.ts';
import type { AgentContainer } from './agent-container.ts';
import type { AgentError } from './agent-messages.ts';

const OOM_PATTERN = /heap out of memory|Allocation failed|MemoryError|Cannot allocate memory/i;

/** What one invocation did to its container: keep it warm, or it is gone. */
export interface AgentInvocation {
  outcome: InvokeOutcome;
  /** false when the container was killed or died: the caller must not reuse it. */
  reusable: boolean;
}

function resultValue(result: Extract<AgentResult, { ok: true }>): unknown {
  return result.valueEncoding === 'base64'
    ? new Uint8Array(Buffer.from(String(result.value), 'base64'))
    : result.value;
}

/** An invocation error as recorded: where a load failure happened is not part of it. */
export function invocationError(error: AgentError): InvocationError {
  return { type: error.type, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
}

/**
 * Runs one invocation in a loaded container: one message to the agent and one back. The
 * deadline and the abort signal kill the container (a stuck handler cannot be interrupted
 * any other way); a dead process is classified by the engine's OOM flag.
 */
export async function invokeInContainer(
  container: AgentContainer,
  request: InvokeRequest,
  maxLogBytes: number,
): Promise<AgentInvocation> {
  const started = performance.now();
  const cpuBefore = container.metrics.cpuTimeMs();
  container.metrics.resetPeak();
  const metrics = (): InvokeMetrics => {
    const cpuAfter = container.metrics.cpuTimeMs();
    const peak = container.metrics.peakMemoryBytes();
    return {
      durationMs: performance.now() - started,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuTimeMs: cpuAfter - cpuBefore } : {}),
      ...(peak !== undefined ? { peakMemoryBytes: peak } : {}),
    };
  };

  let stop: 'timeout' | 'abort' | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<'stopped'>((resolve) => {
    timer = setTimeout(
      () => {
        stop = 'timeout';
        resolve('stopped');
      },
      Math.max(0, request.deadline - Date.now()),
    );
    onAbort = () => {
      stop = 'abort';
      resolve('stopped');
    };
    if (request.signal?.aborted) onAbort();
    else request.signal?.addEventListener('abort', onAbort, { once: true });
  });

  try {
    const settled = await Promise.race([
      container.channel.invoke({
        id: request.invocationId,
        event: request.event,
        deadline: request.deadline,
        onLog: cappedLog(request.log, maxLogBytes),
        ...(request.trace
          ? { trace: { traceId: request.trace.traceId, traceparent: request.trace.traceparent } }
          : {}),
      }),
      stopped,
    ]);
    if (settled === 'stopped') {
      const measured = metrics();
      // The answer goes now, on the server's clock; the removal (10 s for a frozen gVisor
      // container) finishes in the background, tracked by the pool's release.
      void container.destroy();
      const error: InvocationError =
        stop === 'timeout'
          ? { type: 'Timeout', message: `The function did not finish within ${request.fn.timeoutMs} ms` }
          : { type: 'Aborted', message: 'The invocation was cancelled' };
      return {
        outcome: { status: stop === 'timeout' ? 'timed_out' : 'failed', error, metrics: measured },
        reusable: false,
      };
    }
    if (settled.ok)
      return {
        outcome: { status: 'succeeded', result: resultValue(settled), metrics: metrics() },
        reusable: true,
      };
    const status = settled.error.type === 'MemoryError' ? 'out_of_memory' : 'failed';
    return { outcome: { status, error: invocationError(settled.error), metrics: metrics() }, reusable: true };
  } catch (err) {
    if (err instanceof AgentProtocolError) {
      // Garbage from the container: whatever runs there is not to be trusted with another call.
      const measured = metrics();
      void container.destroy();
      const message = `The function's container broke the agent protocol (${err.message}); the container was removed`;
      return {
        outcome: { status: 'failed', error: { type: 'AgentProtocolError', message }, metrics: measured },
        reusable: false,
      };
    }
    if (err instanceof AgentFatalError && err.error.type !== 'ProcessExited') {
      // The function crashed outside its handler's promise (an unhandled rejection, a throwing timer).
      const measured = metrics();
      void container.destroy();
      return {
        outcome: { status: 'failed', error: invocationError(err.error), metrics: measured },
        reusable: false,
      };
    }
    if (!(err instanceof AgentGoneError || err instanceof AgentFatalError)) throw err;
    return { outcome: await diedOutcome(container, request, metrics()), reusable: false };
  } finally {
    clearTimeout(timer);
    if (onAbort) request.signal?.removeEventListener('abort', onAbort);
  }
}

/** Passes log lines on until `maxBytes`, then one marker line; the rest is dropped. */
function cappedLog(log: LogSink, maxBytes: number): LogSink {
  let written = 0;
  let truncated = false;
  return (level, message) => {
    if (truncated) return;
    const bytes = Buffer.byteLength(message);
    if (written + bytes <= maxBytes) {
      written += bytes;
      log(level, message);
      return;
    }
    truncated = true;
    const room = maxBytes - written;
    if (room > 0)
      log(
        level,
        Buffer.from(message)
          .subarray(0, room)
          .toString('utf8')
          .replace(/\uFFFD$/, ''),
      );
    log('warn', `[faas] log output truncated: this invocation wrote more than ${maxBytes} bytes of logs`);
  };
}

async function diedOutcome(
  container: AgentContainer,
  request: InvokeRequest,
  metrics: InvokeMetrics,
): Promise<InvokeOutcome> {
  const exit = await container.exitInfo();
  await container.destroy();
  // The engine misses some OOM kills (its flag stays false under load): a SIGKILL with the
  // cgroup's peak at the memory limit is one too.
  const killedAtLimit =
    exit.exitCode === 137 && (metrics.peakMemoryBytes ?? 0) >= request.fn.memoryMb * 1024 * 1024;
  if (exit.oomKilled || killedAtLimit || OOM_PATTERN.test(exit.logTail)) {
    return {
      status: 'out_of_memory',
      error: {
        type: 'OutOfMemory',
        message: `The function exceeded its memory limit of ${request.fn.memoryMb} MB`,
      },
      metrics,
    };
  }
  const detail = exit.logTail.trim().split('\n').slice(-5).join('\n');
  return {
    status: 'failed',
    error: {
      type: 'ProcessExited',
      message: `The function's process exited${exit.exitCode === undefined ? '' : ` with code ${exit.exitCode}`}${detail ? `: ${detail}` : ''}`,
    },
    metrics,
  };
}
