import { randomUUID } from 'node:crypto';
import type { BlobStore, FunctionVersion } from '@faas/core';
import {
  type ContainerLanguage,
  containerFixtureCode,
} from '../../packages/testkit/src/fixtures/container-fixtures.ts';
import {
  FIXTURE_NAMES,
  type FixtureName,
  type FixtureOptions,
  type RuntimeFixtures,
} from '../../packages/testkit/src/fixtures/runtime-fixtures.ts';
import { tarOf } from './support.ts';

/** The shared fixtures as `language` functions of the container runtime: each one's code in a tar. */
export function createContainerFixtures(
  blobs: BlobStore,
  language: ContainerLanguage,
  extra: Partial<FunctionVersion> = {},
): RuntimeFixtures {
  const deploy =
    (name: FixtureName) =>
    async (options: FixtureOptions = {}): Promise<FunctionVersion> => {
      const { files, handler } = await containerFixtureCode(language, name, options);
      const code = await blobs.put(await tarOf(files));
      return {
        name: options.name ?? `${name.toLowerCase()}-${randomUUID().slice(0, 8)}`,
        version: options.version ?? 1,
        runtime: language,
        handler,
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
