import { readFileSync } from 'node:fs';
import ivm from 'isolated-vm';

/**
 * The code every isolate runs before the function: the globals a function may use (console,
 * timers, TextEncoder…, see docs/runtimes/isolate.md) and the entry points the host calls.
 *
 * The fragments in ./prelude/ share one function scope, in this order. Running them defines the
 * globals and `__faasInstall(callbacks…, limits…)`, which the host calls once per isolate: it
 * returns `{ bind, invoke, fire, startBatch, takeBatch, wait }` and deletes itself, so nothing the prelude holds is reachable
 * from the function's code.
 */
const FRAGMENTS = ['state', 'inspect', 'console', 'encoding', 'clone', 'timers', 'crypto', 'url', 'invoke'];

/** Shown in stack frames of prelude code, which error reports filter out. */
export const PRELUDE_FILENAME = 'faas:prelude';
export const INSTALL_GLOBAL = '__faasInstall';

function readFragment(name: string): string {
  const text = readFileSync(new URL(`./prelude/${name}.js`, import.meta.url), 'utf8');
  return `// --- ${name}.js\n${text}`;
}

let source: string | undefined;

export function preludeSource(): string {
  source ??= ['(function () {', "'use strict';", ...FRAGMENTS.map(readFragment), '})();'].join('\n');
  return source;
}

/**
 * Runs a throwaway invocation through the prelude's common paths so the snapshot carries their
 * compiled code (V8 runs it in a context it then discards: no state survives).
 */
const WARMUP = `
globalThis.__faas = { default: async (event, context) => {
  console.log('warm %s', 'up', { a: [1, 'two', { three: 3 }], m: new Map([[1, 2]]) }, 4n, null);
  context.log.info(new TextDecoder().decode(new TextEncoder().encode(JSON.stringify(event))));
  return structuredClone({ ok: true, event, at: new Date(0), bytes: new Uint8Array(2) });
} };
const entry = globalThis.${INSTALL_GLOBAL}(() => {}, () => {}, () => {}, () => {}, (n) => new Uint8Array(n), () => null, 1024, 1024, '{}');
entry.bind('default', 'warmup', 1);
entry.invoke(1, 'warmup', Date.now() + 1000, 'json', '{"hello":"world","n":[1,2,3]}');
entry.invoke(2, 'warmup', Date.now() + 1000, 'text', 'hello');
entry.startBatch(3, 'warmup', Date.now() + 1000, 'json', '{"n":1}', 4, 'warmup', Date.now() + 1000, 'json', '{"n":2}');
entry.takeBatch();
`;

let snapshot: ivm.ExternalCopy<ArrayBuffer> | null | undefined;

/**
 * A V8 startup snapshot with the prelude already run, or null when isolated-vm cannot make one
 * here (callers then compile and run `preludeSource()` in each isolate). Made once per process:
 * starting from it saves about a third of a cold start.
 */
export function preludeSnapshot(): ivm.ExternalCopy<ArrayBuffer> | null {
  if (snapshot === undefined) {
    try {
      snapshot = ivm.Isolate.createSnapshot([{ code: preludeSource(), filename: PRELUDE_FILENAME }], WARMUP);
    } catch {
      snapshot = null;
    }
  }
  return snapshot;
}
