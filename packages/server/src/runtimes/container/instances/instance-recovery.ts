import type Docker from 'dockerode';
import { OWNER_LABEL, ROLE_LABEL, removeContainer } from '../container-labels.ts';
import {
  INSTANCE_ROLE,
  type InstanceIdentity,
  identityFromLabels,
  STANDBY_NAME_PREFIX,
} from './instance-container.ts';

/** An instance a previous server run left, as its container says. */
export interface FoundInstance {
  identity: InstanceIdentity;
  containerId: string;
  running: boolean;
}

/**
 * The instances of this owner in the engine, cleaned of what a crash can leave: unclaimed restore
 * standbys (named so) are removed, and of several containers with one instance id (a crash in
 * the middle of a checkpoint, which moves an instance to a new container) the running or else the
 * newest is kept and the others removed.
 */
export async function findInstances(docker: Docker, ownerId: string): Promise<FoundInstance[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${ROLE_LABEL}=${INSTANCE_ROLE}`, `${OWNER_LABEL}=${ownerId}`] }),
  });
  const byId = new Map<string, Array<FoundInstance & { created: number }>>();
  const unwanted: string[] = [];
  for (const info of containers) {
    const identity = identityFromLabels(info.Labels ?? {});
    const standby = info.Names?.some((name) => name.replace(/^\//, '').startsWith(STANDBY_NAME_PREFIX));
    if (!identity || standby) {
      unwanted.push(info.Id);
      continue;
    }
    const found = {
      identity,
      containerId: info.Id,
      // A paused instance (a crash between a standby's wake and its rename, an operator's pause)
      // is joined too: its container holds its memory either way.
      running: info.State === 'running' || info.State === 'paused',
      created: info.Created,
    };
    byId.set(identity.id, [...(byId.get(identity.id) ?? []), found]);
  }
  const kept: FoundInstance[] = [];
  for (const candidates of byId.values()) {
    candidates.sort((a, b) => Number(b.running) - Number(a.running) || b.created - a.created);
    const [keep, ...rest] = candidates;
    if (keep) kept.push({ identity: keep.identity, containerId: keep.containerId, running: keep.running });
    unwanted.push(...rest.map((c) => c.containerId));
  }
  await Promise.all(unwanted.map((id) => removePaused(docker, id).catch(() => {})));
  return kept;
}

/** The engine cannot kill the processes of a paused container: it is unpaused first. */
export async function removePaused(docker: Docker, containerId: string): Promise<void> {
  await docker
    .getContainer(containerId)
    .unpause()
    .catch(() => {});
  await removeContainer(docker, containerId);
}

/** Kills the container's processes (a paused one is unpaused first); one already stopped is fine. */
export async function killContainer(docker: Docker, containerId: string): Promise<void> {
  const container = docker.getContainer(containerId);
  await container.unpause().catch(() => {});
  await container.kill().catch(() => {});
}
