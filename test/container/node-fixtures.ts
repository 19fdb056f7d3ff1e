import { randomUUID } from 'node:crypto';
import type { BlobStore, FunctionVersion } from '@faas/core';
import { jsFixtureSource } from '../../packages/testkit/src/fixtures/js-fixtures.ts';
import {
  FIXTURE_NAMES,
  type FixtureName,
  type FixtureOptions,
  type RuntimeFixtures,
} from '../../packages/testkit/src/fixtures/runtime-fixtures.ts';
import { tarOf } from './support.ts';

/** The shared fixtures as `node` functions: each source as index.mjs in a code tar. */
export function createNodeFixtures(blobs: BlobStore, extra: Partial<FunctionVersion> = {}): RuntimeFixtures {
  const deploy =
    (name: FixtureName) =>
    async (options: FixtureOptions = {}): Promise<FunctionVersion> => {
      const code = await blobs.put(await tarOf({ 'index.mjs': await jsFixtureSource(name, options) }));
      return {
        name: options.name ?? `${name}-${randomUUID().slice(0, 8)}`,
        version: options.version ?? 1,
        runtime: 'node',
        handler: 'index.default',
        env: {},
        timeoutMs: options.timeoutMs ?? 10_000,
        memoryMb: Math.max(options.memoryMb ?? 128, 128),
        maxConcurrency: options.maxConcurrency ?? 8,
        maxRetries: 0,
        routes: [],
        description: '',
        codeSha256: code.sha256,
        codeSizeBytes: code.sizeBytes,
        artifactSha256: code.sha256,
        createdAt: new Date().toISOString(),
        ...extra,
      };
    };
  return Object.fromEntries(FIXTURE_NAMES.map((name) => [name, deploy(name)])) as RuntimeFixtures;
}
