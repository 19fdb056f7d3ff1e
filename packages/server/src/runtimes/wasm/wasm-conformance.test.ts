import { describe } from 'node:test';
import { createWasmFixtures, defineRuntimeSuite, MemoryBlobStore, wabtMissing } from '@faas/testkit';
import { createWasmRuntime, WASM_DEFAULTS } from './wasm-runtime.ts';

const blobs = new MemoryBlobStore();
const NO_CONTEXT =
  'WASI gives a module the event on stdin and nothing else: no context object (wasm-runtime.test.ts checks the stdin ABI)';
const NO_TIMERS =
  'the slow fixture parses its event and sleeps in JSON/timer terms a WAT module does not have; parallel runs and retire in flight (a 150 ms poll_oneoff nap) are in wasm-runtime.test.ts';

const wabt = wabtMissing();
if (wabt) {
  describe('Runtime conformance: wasm', { skip: wabt }, () => {});
} else {
  defineRuntimeSuite('wasm', (o) => createWasmRuntime({ blobs, ...o }), {
    fixtures: createWasmFixtures(blobs),
    supports: ['wasm'],
    maxLogBytes: WASM_DEFAULTS.maxLogBytes,
    skip: {
      echo: NO_CONTEXT,
      async: NO_TIMERS,
      concurrency: NO_TIMERS,
      retireInFlight: NO_TIMERS,
      crash: 'a module has no exceptions: traps and non-zero exits are failures, in wasm-runtime.test.ts',
      hangAsync: 'a module has no promises: a sleep past the deadline is in wasm-runtime.test.ts',
      console: 'a module has stderr only, one level (error): in wasm-runtime.test.ts',
      hugeOutput: 'log and result caps with fixed sizes (log-flood, huge-output) are in wasm-runtime.test.ts',
      unserializable: 'stdout that is not JSON is a string result, never an error',
      warmState:
        'each invocation is a fresh instance (a WASI command runs _start once): no state carries over',
    },
  });
}
