import type { InvokeOutcome } from '@faas/core';

/** Hides secret values in what a function hands back (result, error, log lines). */
export type Redactor = (text: string) => string;

/**
 * Values shorter than this are not hidden: replacing every `1` or `ab` in a function's output
 * would garble it and hide nothing worth hiding (GitHub Actions draws the same line).
 */
export const MIN_REDACTED_LENGTH = 4;

const NOTHING: Redactor = (text) => text;

/**
 * A redactor replacing each value, and its base64 (a common way to pass a credential on), with
 * `[secret]`. Longest first, so a value that contains another is hidden whole.
 */
export function redactorOf(values: readonly string[]): Redactor {
  const hidden = new Set<string>();
  for (const value of values) {
    if (value.length < MIN_REDACTED_LENGTH) continue;
    hidden.add(value);
    hidden.add(Buffer.from(value, 'utf8').toString('base64'));
    hidden.add(Buffer.from(value, 'utf8').toString('base64url'));
  }
  if (hidden.size === 0) return NOTHING;
  const ordered = [...hidden].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const value of ordered) if (out.includes(value)) out = out.split(value).join('[secret]');
    return out;
  };
}

/** A JSON value with every string (keys too) passed through `redact`. */
export function redactJson(value: unknown, redact: Redactor): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactJson(v, redact));
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[redact(k)] = redactJson(v, redact);
    return out;
  }
  return value;
}

/**
 * An outcome with the values hidden in its result's strings and its error. A binary result
 * (bytes) is passed as it is: hiding would corrupt it.
 */
export function redactOutcome(outcome: InvokeOutcome, redact: Redactor): InvokeOutcome {
  if (outcome.status === 'succeeded') return { ...outcome, result: redactJson(outcome.result, redact) };
  const { type, message, stack } = outcome.error;
  return {
    ...outcome,
    error: {
      type: redact(type),
      message: redact(message),
      ...(stack !== undefined ? { stack: redact(stack) } : {}),
    },
  };
}
