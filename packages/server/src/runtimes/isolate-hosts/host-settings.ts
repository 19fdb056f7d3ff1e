import { availableParallelism, totalmem } from 'node:os';
import type { Config } from '@faas/core';
import { ISOLATE_DEFAULTS } from '../isolate/isolate-runtime.ts';
import { hostShareMb, type IsolateHosts } from './isolate-hosts.ts';
import { RemoteIsolateRuntime } from './remote-isolate-runtime.ts';

/** FAAS_ISOLATE_HOSTS, with 0 meaning one per core, at most 4. */
export function isolateHostCount(config: Readonly<Config>): number {
  return config.isolateHosts > 0 ? config.isolateHosts : Math.min(4, availableParallelism());
}

/** FAAS_ISOLATE_MEMORY_MB, with 0 meaning half the machine's memory. */
export function isolateMemoryMb(config: Readonly<Config>): number {
  return config.isolateMemoryMb > 0 ? config.isolateMemoryMb : Math.floor(totalmem() / 2 / 1024 / 1024);
}

/** The largest memoryMb a js/ts function may have here: an isolate never spans two hosts. */
export function isolateMemoryCapMb(config: Readonly<Config>): number {
  return hostShareMb(isolateMemoryMb(config), isolateHostCount(config));
}

/**
 * The largest frame between a thread and an isolate host: one event (up to the body limit) or
 * one result with its logs, with room to spare; batches are split to stay under it (HostClient,
 * encodeOutcomeFrames), and an event or outcome that alone does not fit fails its call alone.
 */
export function hostFrameLimit(config: Readonly<Config>): number {
  return Math.max(config.bodyLimitBytes, ISOLATE_DEFAULTS.maxResultBytes) * 2 + 1024 * 1024;
}

/** The isolate runtime of a serving thread: a client of the isolate hosts. */
export function remoteIsolateRuntime(
  config: Readonly<Config>,
  hosts: Pick<IsolateHosts, 'endpoints'>,
  logger: Pick<Console, 'error' | 'warn'>,
): RemoteIsolateRuntime {
  return new RemoteIsolateRuntime({
    endpoints: hosts.endpoints,
    maxFrameBytes: hostFrameLimit(config),
    stuckGraceMs: config.isolateStuckGraceMs,
    logger,
  });
}
