import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import {
  listOwnedContainers,
  ownerIdFor,
} from '../../packages/server/src/runtimes/container/container-labels.ts';
import {
  CONTAINER_DEFAULTS,
  type ContainerRuntime,
  createContainerRuntime,
} from '../../packages/server/src/runtimes/container/container-runtime.ts';
import type { ContainerLanguage } from '../../packages/testkit/src/fixtures/container-fixtures.ts';
import {
  FIXTURE_NAMES,
  type FixtureName,
  type RuntimeFixtures,
} from '../../packages/testkit/src/fixtures/runtime-fixtures.ts';
import { MemoryBlobStore } from '../../packages/testkit/src/memory-blob-store.ts';
import { defineRuntimeSuite } from '../../packages/testkit/src/runtime-suite.ts';
import { createContainerFixtures } from './container-fixtures.ts';
import { buildImagesForTests, docker, engineSkipReason, IMAGE_CACHE_DIR } from './support.ts';

export interface ContainerConformanceOptions {
  /** Cases the language cannot express, each with the reason (the suite's `skip`). */
  skip?: Record<string, string>;
  /** Also run the suite under gVisor when the engine has it. */
  gvisor?: boolean;
  /**
   * Prepare every fixture before the suite uses it, as a deploy does: go compiles at prepare, and
   * a case must time the function, not its compile.
   */
  prepareFixtures?: boolean;
}

/**
 * The runtime conformance suite against the container runtime with the fixtures in `language`.
 * Each runtime gets its own data dir; none may leave a container behind.
 */
export async function defineContainerConformance(
  language: ContainerLanguage,
  options: ContainerConformanceOptions = {},
): Promise<void> {
  const skip = await engineSkipReason();
  const blobs = new MemoryBlobStore();
  const dataDirs: string[] = [];
  const scratch: string[] = [];
  const runtimes: ContainerRuntime[] = [];

  before(
    async () => {
      if (!skip) await buildImagesForTests();
    },
    { timeout: 900_000 },
  );

  after(async () => {
    // Every runtime the suite made was closed: none may have left a container behind.
    for (const dir of dataDirs) {
      const left = await listOwnedContainers(docker, ownerIdFor(dir));
      assert.equal(left.length, 0, `containers left by the runtime with data dir ${dir}`);
    }
    // A go runtime made a build cache volume of its own.
    for (const runtime of runtimes) {
      await docker
        .getVolume(`faas-go-build-${runtime.ownerId}`)
        .remove()
        .catch(() => {});
    }
    await Promise.all([...dataDirs, ...scratch].map((dir) => rm(dir, { recursive: true, force: true })));
  });

  if (skip) {
    // The suite's cases would all fail without an engine; say why once instead.
    it(`container runtime conformance (${language})`, { skip }, () => {});
    return;
  }

  const define = (title: string, extra: Partial<FunctionVersion>) => {
    const fixtures = createContainerFixtures(blobs, language, extra);
    // The suite's runtimes share one folder of built go code, as a server's restarts share its
    // disk: the fixtures compile once, before the suite, not in every runtime.
    const builtCode = mkdtempSync(join(tmpdir(), 'faas-ct-built-'));
    scratch.push(builtCode);
    const makeRuntime = async ({ idleTimeoutMs }: { idleTimeoutMs?: number }) => {
      // A data dir per runtime: it names the runtime's containers, and a second runtime with the
      // same dir would remove the first one's as orphans.
      const dataDir = mkdtempSync(join(tmpdir(), 'faas-ct-'));
      dataDirs.push(dataDir);
      symlinkSync(builtCode, join(dataDir, 'go'));
      const runtime = createContainerRuntime({
        blobs,
        dataDir,
        idleTimeoutMs: idleTimeoutMs ?? 60_000,
        imageCacheDir: IMAGE_CACHE_DIR,
        sparesPerImage: 1,
        sandboxSpares: 1,
        logger: { info() {}, warn() {}, error: console.error },
      });
      runtimes.push(runtime);
      return runtime;
    };
    if (options.prepareFixtures) {
      // A runtime of its own compiles them, with the time compiles take on a busy machine.
      before(
        async () => {
          const builder = await makeRuntime({});
          try {
            await prepareAll(builder, fixtures);
          } finally {
            await builder.close();
          }
        },
        { timeout: 900_000 },
      );
    }
    defineRuntimeSuite(title, makeRuntime, {
      fixtures,
      supports: ['node', 'python', 'go', 'image'],
      maxLogBytes: CONTAINER_DEFAULTS.maxLogBytes,
      // Node itself needs ~40 MB; the hog's limit leaves room to start.
      hogMemoryMb: 96,
      ...(extra.isolation === 'gvisor' ? { deadlineSlackMs: 5000 } : {}),
      ...(options.skip ? { skip: options.skip } : {}),
    });
  };
  define(`container ${language} (runc)`, {});
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  // Starting a gVisor sandbox takes about a second: a wider deadline slack.
  if (options.gvisor && info.Runtimes?.['gvisor-uds'])
    define(`container ${language} (gVisor)`, { isolation: 'gvisor' });
}

/**
 * Prepares each fixture the suite will deploy (the two tags of `versioned` too) in `runtime`: the
 * built code stays cached by its content, so the suite's own deploys of the same code find it
 * built, as after a deploy.
 */
async function prepareAll(runtime: ContainerRuntime, fixtures: RuntimeFixtures) {
  const prepare = async (name: FixtureName, tag?: string) => {
    const fn = await fixtures[name](tag ? { tag } : {});
    // The load error fails after its build: that build is what is kept.
    await runtime.prepare(fn).catch(() => {});
  };
  const [first, ...rest] = FIXTURE_NAMES;
  // The first alone fills the build cache (a go toolchain's standard library); the rest side by
  // side, as many at once as the runtime builds.
  await prepare(first as FixtureName);
  await Promise.all(
    rest.flatMap((name) =>
      (name === 'versioned' ? ['first', 'second'] : [undefined]).map((tag) => prepare(name, tag)),
    ),
  );
}
