import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ownerIdFor } from '../../packages/server/src/runtimes/container/container-labels.ts';

/** Why tests that need Docker Engine skip: only when `docker info` fails. */
export function engineSkipReason(): string | false {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return false;
  } catch (err) {
    return `docker info failed, so no Docker Engine runs containers here: ${(err as Error).message}`;
  }
}

/** The engine's state (`running`, `paused`, …) of each container of a server's data dir. */
export function containerStates(dataDir: string): string[] {
  // A server labels its containers with a hash of its container dir (container-labels.ts).
  const owner = ownerIdFor(join(dataDir, 'containers'));
  return execFileSync('docker', [
    'ps',
    '-a',
    '--filter',
    `label=faas.owner=${owner}`,
    '--format',
    '{{.State}}',
  ])
    .toString()
    .split('\n')
    .filter(Boolean);
}

/** Ids of the containers of a server's data dir, whatever their state. */
export function ownedContainers(dataDir: string): string[] {
  const owner = ownerIdFor(join(dataDir, 'containers'));
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=faas.owner=${owner}`])
    .toString()
    .split('\n')
    .filter(Boolean);
}

/** Removes the Go build cache volume of a server's data dir (made by its first go deploy). */
export function removeGoBuildCache(dataDir: string): void {
  const owner = ownerIdFor(join(dataDir, 'containers'));
  try {
    execFileSync('docker', ['volume', 'rm', `faas-go-build-${owner}`], { stdio: 'ignore' });
  } catch {
    // None was made.
  }
}

/** Removes what a failed test left; paused ones (restore standbys) must be unpaused to be killed. */
export function removeContainers(ids: string[]): void {
  if (ids.length === 0) return;
  try {
    execFileSync('docker', ['unpause', ...ids], { stdio: 'ignore' });
  } catch {
    // Most were not paused.
  }
  execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
}
