import { type InvokeMetrics, type InvokeOutcome, jsonNestsDeeperThan } from '@faas/core';
import type { WorkerReply } from './worker-messages.ts';

type DoneReply = Extract<WorkerReply, { type: 'done' }>;

/**
 * The outcome a finished run stands for (docs/runtimes/wasm.md, "ABI"): exit 0 succeeds with
 * stdout as the result (JSON when it parses, else the text; nothing is null); a non-zero exit or a
 * trap fails, with the last stderr lines; either with the memory within 1/16 of its limit is
 * out_of_memory (`memory.grow` failing is what a module's allocator sees at the limit; the module
 * cannot grow past it, since its memory maximum is the limit).
 */
export function runOutcome(
  done: DoneReply,
  limits: { memoryMb: number; maxResultBytes: number },
  metrics: InvokeMetrics,
): InvokeOutcome {
  const withMemory = { ...metrics, peakMemoryBytes: done.memoryBytes };
  const { end } = done;
  const tail = done.lastLines.length > 0 ? `; stderr ended with:\n${done.lastLines.join('\n')}` : '';
  if (end.kind === 'too-large') {
    const message = `The function's result is too large: more than ${limits.maxResultBytes} bytes on stdout`;
    return { status: 'failed', error: { type: 'InvalidResult', message }, metrics: withMemory };
  }
  if (end.kind === 'exited' && end.code === 0) {
    return { status: 'succeeded', result: resultOf(end.stdout), metrics: withMemory };
  }
  if (done.memoryFull) {
    const message = `The function exceeded its memory limit of ${limits.memoryMb} MB${tail}`;
    return { status: 'out_of_memory', error: { type: 'OutOfMemory', message }, metrics: withMemory };
  }
  if (end.kind === 'exited') {
    const message = `The module exited with code ${end.code}${tail}`;
    return { status: 'failed', error: { type: 'ExitError', message }, metrics: withMemory };
  }
  return {
    status: 'failed',
    error: { type: end.type, message: `${end.message}${tail}`, ...(end.stack ? { stack: end.stack } : {}) },
    metrics: withMemory,
  };
}

const decoder = new TextDecoder();

function resultOf(stdout: Uint8Array): unknown {
  if (stdout.length === 0) return null;
  const text = decoder.decode(stdout);
  if (jsonNestsDeeperThan(text)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
