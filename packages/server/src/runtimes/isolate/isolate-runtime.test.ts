import { createJsFixtures, defineRuntimeSuite, MemoryBlobStore } from '@faas/testkit';
import { createIsolateRuntime, ISOLATE_DEFAULTS } from './isolate-runtime.ts';

const blobs = new MemoryBlobStore();

defineRuntimeSuite('isolate', (options) => createIsolateRuntime({ blobs, ...options }), {
  fixtures: createJsFixtures(blobs),
  supports: ['js', 'ts'],
  maxLogBytes: ISOLATE_DEFAULTS.maxLogBytes,
});
