import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type Docker from 'dockerode';

/** Every container faas creates carries this label. */
export const MANAGED_LABEL = 'faas.managed';
/** Which server made it: a hash of its data dir, so a restarted server finds its own orphans. */
export const OWNER_LABEL = 'faas.owner';
export const FUNCTION_LABEL = 'faas.function';
export const VERSION_LABEL = 'faas.version';
/** `agent` (node/python function), `sandbox` (image functions and runInSandbox). */
export const ROLE_LABEL = 'faas.role';

/**
 * The owner id of a data dir. Servers (and test runs) with different data dirs share one engine
 * without touching each other's containers.
 */
export function ownerIdFor(dataDir: string): string {
  return createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16);
}

/** Ids of the containers an owner has in the engine, running or not. */
export async function listOwnedContainers(docker: Docker, ownerId: string): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${MANAGED_LABEL}=true`, `${OWNER_LABEL}=${ownerId}`] }),
  });
  return list.map((c) => c.Id);
}

/**
 * Removes an owner's containers: orphans of a crashed server with the same data dir. Containers
 * of the roles in `keep` (instances, which outlive a server run on purpose) stay.
 */
export async function removeOwnedContainers(
  docker: Docker,
  ownerId: string,
  keep: string[] = [],
): Promise<number> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${MANAGED_LABEL}=true`, `${OWNER_LABEL}=${ownerId}`] }),
  });
  const ids = list.filter((c) => !keep.includes(c.Labels?.[ROLE_LABEL] ?? '')).map((c) => c.Id);
  await Promise.all(ids.map((id) => removeContainer(docker, id)));
  return ids.length;
}

/** Force-removes a container; already gone is fine. */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  const container = docker.getContainer(id);
  // The engine cannot kill a paused gVisor sandbox (runsc: "invalid state transition: paused =>
  // stopped"; dockerd then fails to delete its task and the container stays): thaw it first.
  const paused = await container.inspect().then(
    (info) => info.State?.Paused === true,
    () => false,
  );
  if (paused) await container.unpause().catch(() => {});
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw err;
  }
}
