/**
 * The layering of DESIGN.md and STYLE.md, checked by `npm run deps` (in `npm run check`, so in CI):
 *
 *   gateway → control, observability, tenancy, core   control → core   observability → core   tenancy → core   data → core   runtimes → core   cluster → core
 *   store, queue, blobs → core (and the shared sqlite/ and storage/ helpers)   core → nothing of ours
 *   nothing in src/ → test support (testkit, test/, *test-support.ts, test-helpers.ts)
 *   no import cycles
 *
 * Composition roots wire the layers together and may import any of them: platform.ts,
 * thread-platform.ts (a gateway thread's), isolate-host.ts (an isolate host process's), main.ts,
 * index.ts. The gateway reaches the platform through its `Platform` interface (platform.ts) and a
 * thread's through `ThreadPlatform` (thread-platform.ts).
 * Tests and benchmarks beside the source may import what they test, and test support.
 *
 * KNOWN_EXCEPTIONS lists today's imports that break a rule and are left for work under way
 * elsewhere; each says why. Remove an entry when its import goes.
 */

const SERVER = '^packages/server/src/';
/** Files that are tests, benchmarks or test support themselves. */
const TEST_FILES =
  '(\\.test|\\.fuzz\\.test|\\.bench|\\.test-child)\\.ts$|/test-support\\.ts$|/test-helpers\\.ts$';

const KNOWN_EXCEPTIONS = [
  {
    // Instance file transfer parses tar streams with the container runtime's helpers, and the
    // instance stream names the instance and its event types from there: they should come
    // through SandboxProvider and its types (core). Sandbox/instances work in progress.
    from: `${SERVER}gateway/routes/instance-(files|stream)\\.ts$`,
    to: `${SERVER}runtimes/container/instances/instance(-files|-events)?\\.ts$`,
  },
  {
    // The execute, instance and snapshot services and the exec cache still import container
    // runtime internals (docker engine, base image, image digests, instance files, instance
    // container) instead of going through SandboxProvider only (DESIGN.md). Sandbox/instances
    // work in progress.
    from: `${SERVER}control/(execute-service|instance-service|snapshot-service|exec-cache)\\.ts$`,
    to: `${SERVER}runtimes/container/`,
  },
  {
    // The queue consumer resolves versions, calls InvocationService.runAttempt and decodes queued
    // events: data → control. An interface in core for "run one attempt" would invert it; the
    // queue's owner is reworking this file.
    from: `${SERVER}data/async-worker\\.ts$`,
    to: `${SERVER}control/(invocation-service|event-codec|function-catalog)\\.ts$`,
  },
];

/** What each layer of packages/server/src may import besides itself (DESIGN.md's layers). */
const LAYERS = {
  gateway: `${SERVER}cluster/wire\\.ts$|${SERVER}control/|${SERVER}observability/|${SERVER}tenancy/|${SERVER}(thread-)?platform\\.ts$|^packages/core/`,
  control: '^packages/core/',
  tenancy: '^packages/core/',
  data: '^packages/core/',
  cluster: '^packages/core/',
  runtimes: '^packages/core/',
  store: `${SERVER}sqlite/|${SERVER}storage/|^packages/core/`,
  queue: `${SERVER}sqlite/|${SERVER}storage/|^packages/core/`,
  blobs: `${SERVER}storage/|^packages/core/`,
  sqlite: `${SERVER}storage/|^packages/core/`,
  storage: '^packages/core/',
  observability: '^packages/core/',
};

/**
 * One rule per layer, for its files but the excepted ones (and tests); then, under the same name,
 * one per excepted file with its exception's targets allowed as well.
 */
function layerRules() {
  const rules = [];
  for (const [name, others] of Object.entries(LAYERS)) {
    const from = `${SERVER}${name}/`;
    const allowed = `${from}|${others}`;
    const excepted = KNOWN_EXCEPTIONS.filter((e) => e.from.startsWith(from));
    const rule = (fromPath, fromNot, toNot) => ({
      name: `${name}-layer`,
      comment: `${name}/ imports only itself and ${others.replaceAll('^', '')} (DESIGN.md's layers)`,
      severity: 'error',
      from: { path: fromPath, pathNot: fromNot },
      to: { path: '^(packages|test|bench)/', pathNot: toNot },
    });
    rules.push(rule(from, [TEST_FILES, ...excepted.map((e) => e.from)].join('|'), allowed));
    for (const e of excepted) rules.push(rule(e.from, TEST_FILES, `${allowed}|${e.to}`));
  }
  return rules;
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'Import cycles make load order matter and hide which layer owns what (STYLE.md: madge --circular).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-test-support-in-src',
      comment:
        'Source must not import test support: testkit, test/, *test-support.ts, test-helpers.ts, tests.',
      severity: 'error',
      from: { path: '^packages/(core|server|sdk|cli)/src/', pathNot: TEST_FILES },
      to: { path: `^packages/testkit/|^test/|${TEST_FILES}` },
    },
    {
      name: 'core-imports-nothing-of-ours',
      comment: 'core holds interfaces and types only: no other package, no npm dependency.',
      severity: 'error',
      from: { path: '^packages/core/src/' },
      to: { pathNot: '^packages/core/src/', dependencyTypesNot: ['core'] },
    },
    ...layerRules(),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports couple layers as much as value imports do.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
    // packages/web/dist is the console's build (bundled chunks), not source.
    exclude: { path: ['node_modules', '^packages/web/dist/'] },
  },
};
