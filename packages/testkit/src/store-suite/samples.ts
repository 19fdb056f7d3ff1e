import { randomUUID } from 'node:crypto';
import type { Invocation, NewFunctionVersion, RouteSpec } from '@faas/core';

/** A complete version input, every optional field set, so round trips are checked in full. */
export function sampleVersion(name: string, overrides: Partial<NewFunctionVersion> = {}): NewFunctionVersion {
  return {
    name,
    project: 'default',
    runtime: 'js',
    handler: 'index.default',
    env: { GREETING: 'hello', EMPTY: '' },
    timeoutMs: 1_500,
    memoryMb: 64,
    maxConcurrency: 3,
    maxRetries: 1,
    routes: [],
    description: `function ${name}`,
    codeSha256: 'a'.repeat(64),
    codeSizeBytes: 123,
    artifactSha256: 'b'.repeat(64),
    ...overrides,
  };
}

/** An image function: the optional container fields present. */
export function sampleImageVersion(name: string, routes: RouteSpec[] = []): NewFunctionVersion {
  return sampleVersion(name, {
    runtime: 'image',
    handler: 'main',
    image: 'faas/test:latest',
    command: ['python3', '-c', 'print("hi")'],
    isolation: 'gvisor',
    network: true,
    routes,
  });
}

/** Reads as "the version that was written", as the store should return it. */
export function asStored(input: NewFunctionVersion, version: number, createdAt: string) {
  return { ...input, version, createdAt };
}

let clock = Date.parse('2030-01-01T00:00:00.000Z');

/** A distinct, increasing creation time per call, so newest-first orders are predictable. */
export function nextCreatedAt(): string {
  clock += 1_000;
  return new Date(clock).toISOString();
}

export function sampleInvocation(overrides: Partial<Invocation> = {}): Invocation {
  const createdAt = overrides.createdAt ?? nextCreatedAt();
  return {
    // Random, not time-ordered: the store must order by createdAt, not by id.
    id: `inv_${randomUUID()}`,
    project: 'default',
    functionName: 'fn',
    version: 1,
    mode: 'sync',
    trigger: 'api',
    status: 'succeeded',
    attempts: 1,
    createdAt,
    ...overrides,
  };
}
