import { inspect } from 'node:util';
import type { InvokeOutcome } from '@faas/core';

/** Hides secret values in what a function hands back (result, error, log lines). */
export type Redactor = (text: string) => string;

/**
 * Values shorter than this are not hidden: replacing every `1` or `ab` in a function's output
 * would garble it and hide nothing worth hiding (GitHub Actions draws the same line).
 */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Lines of a multi-line value shorter than this are not hidden on their own. Output reaches the
 * redactor one log line per line of text (container agents, wasm stderr), so each line of a value
 * (a PEM key's body) must be recognised alone; but a value's short lines are its structure rather
 * than its secret (`-----`, `{`, `}`, an empty line) and common in unrelated output, which hiding
 * them would wipe out. A line is only part of the value, so it needs more length than a whole
 * value (MIN_REDACTED_LENGTH) to be told apart from ordinary text: twice as much.
 */
export const MIN_REDACTED_LINE_LENGTH = 2 * MIN_REDACTED_LENGTH;

/**
 * Forms longer than this are searched for one by one (`indexOf`); shorter ones are joined into
 * patterns of at most MAX_PATTERN_CHARS. V8 refuses a pattern too large ("Regular expression too
 * large"), which a 64 KiB value's forms would make, and a value has only a few long forms.
 */
const MAX_PATTERN_FORM_CHARS = 256;
const MAX_PATTERN_CHARS = 32_768;

const NOTHING: Redactor = (text) => text;
const HIDDEN = '[secret]';

/**
 * A redactor replacing with `[secret]` each value, the value without surrounding whitespace (a
 * trailing newline from a file), each line of a multi-line value (trimmed, when it has at least
 * MIN_REDACTED_LINE_LENGTH characters), each of those in the forms output commonly gives it
 * (`hiddenForms`), and the whole value's base64 and base64url. Where forms overlap or touch, the
 * whole span becomes one `[secret]`. The patterns are built once per set of values (SecretService
 * keeps them); a text is scanned once per pattern, usually one.
 */
export function redactorOf(values: readonly string[]): Redactor {
  const hidden = new Set<string>();
  for (const value of values) {
    if (value.length < MIN_REDACTED_LENGTH) continue;
    hidden.add(Buffer.from(value, 'utf8').toString('base64'));
    hidden.add(Buffer.from(value, 'utf8').toString('base64url'));
    const whole = new Set([value, value.trim()]);
    const parts = new Set(whole);
    const lines = value.split(/\r\n|\r|\n/);
    if (lines.length > 1) for (const line of lines) parts.add(line.trim());
    for (const part of parts) {
      const min = whole.has(part) ? MIN_REDACTED_LENGTH : MIN_REDACTED_LINE_LENGTH;
      if (part.length >= min) for (const form of hiddenForms(part)) hidden.add(form);
    }
  }
  if (hidden.size === 0) return NOTHING;
  // Longest first: where several forms start at one position, a pattern takes the longest.
  const forms = [...hidden].sort((a, b) => b.length - a.length);
  const long = forms.filter((f) => f.length > MAX_PATTERN_FORM_CHARS);
  const patterns = patternsOf(forms.filter((f) => f.length <= MAX_PATTERN_FORM_CHARS));
  return (text) => {
    const spans: Array<[number, number]> = [];
    for (const form of long) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
        spans.push([at, at + form.length]);
      }
    }
    for (const pattern of patterns) {
      pattern.lastIndex = 0;
      for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
        spans.push([match.index, match.index + match[0].length]);
        // From the next character, not the match's end: a form overlapping this one is found too.
        pattern.lastIndex = match.index + 1;
      }
    }
    return spans.length === 0 ? text : hideSpans(text, spans);
  };
}

/** Global patterns matching any of the forms, each at most MAX_PATTERN_CHARS long. */
function patternsOf(forms: readonly string[]): RegExp[] {
  const patterns: RegExp[] = [];
  let alternatives: string[] = [];
  let chars = 0;
  for (const form of forms.map(escapeRegExp)) {
    if (chars + form.length > MAX_PATTERN_CHARS && alternatives.length > 0) {
      patterns.push(new RegExp(alternatives.join('|'), 'g'));
      alternatives = [];
      chars = 0;
    }
    alternatives.push(form);
    chars += form.length + 1;
  }
  if (alternatives.length > 0) patterns.push(new RegExp(alternatives.join('|'), 'g'));
  return patterns;
}

/** The text with each span, merged with those it overlaps or touches, replaced by HIDDEN. */
function hideSpans(text: string, spans: Array<[number, number]>): string {
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  let [start, end] = spans[0] as [number, number];
  for (const [from, to] of spans) {
    if (from <= end) {
      end = Math.max(end, to);
      continue;
    }
    out += text.slice(copied, start) + HIDDEN;
    copied = end;
    [start, end] = [from, to];
  }
  return out + text.slice(copied, start) + HIDDEN + text.slice(end);
}

/**
 * The text as it appears once output escapes or encodes it: inside a JSON string
 * (`JSON.stringify`, Python's `json.dumps` and Go's `%q` for printable text), inside a string
 * that Node's `util.inspect`, the isolate's console (prelude/inspect.js) or Python's `repr`
 * quotes (with and without `\'`), and URL-encoded (`encodeURIComponent`, a URL's userinfo, a
 * form body).
 */
function hiddenForms(text: string): Set<string> {
  const controls = text.replace(/[\\\n\r\t\b\f\v]/g, (c) => CONTROL_ESCAPES[c] as string);
  const forms = new Set([
    text,
    JSON.stringify(text).slice(1, -1),
    inspect(text, { breakLength: Number.POSITIVE_INFINITY, maxStringLength: null }).slice(1, -1),
    controls,
    controls.replaceAll("'", "\\'"),
  ]);
  const wellFormed = text.toWellFormed();
  forms.add(encodeURIComponent(wellFormed));
  forms.add(new URLSearchParams({ v: wellFormed }).toString().slice(2));
  const url = new URL('http://host');
  url.password = wellFormed;
  forms.add(url.password);
  return forms;
}

const CONTROL_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
};

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
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
