import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FaasError } from '@faas/core';
import type Docker from 'dockerode';

/**
 * The engine's checkpoint API (experimental; runsc does the work). dockerode's typings lack it,
 * and its `start` sends options as a body, which the engine refuses: these go through the modem.
 */
function dial(docker: Docker, path: string, method: string, options: object): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path,
        method,
        options,
        statusCodes: {
          200: true,
          201: true,
          204: true,
          304: true,
          404: 'no such container',
          500: 'server error',
        },
      },
      (err: unknown) => (err ? reject(err) : resolve()),
    );
  });
}

/** Checkpoints and stops the container (runsc cannot leave it running). */
export function createCheckpoint(docker: Docker, containerId: string, name: string): Promise<void> {
  return dial(docker, `/containers/${containerId}/checkpoints`, 'POST', { CheckpointID: name, Exit: true });
}

export function deleteCheckpoint(docker: Docker, containerId: string, name: string): Promise<void> {
  return dial(docker, `/containers/${containerId}/checkpoints/${encodeURIComponent(name)}`, 'DELETE', {});
}

/** `docker start --checkpoint`. */
export function startFromCheckpoint(docker: Docker, containerId: string, checkpoint: string): Promise<void> {
  return dial(docker, `/containers/${containerId}/start?`, 'POST', { _query: { checkpoint }, _body: {} });
}

const dockerRoots = new WeakMap<Docker, Promise<string>>();

/**
 * Where the engine keeps a container's checkpoint `name`. Docker's API can create checkpoints but
 * not upload them, and this engine refuses custom checkpoint folders on start, so snapshots read
 * and write the engine's own folder: the server must run beside the engine, as root. `fresh`
 * empties it for a checkpoint about to be written there.
 */
export async function checkpointDir(
  docker: Docker,
  containerId: string,
  name: string,
  options: { fresh?: boolean } = {},
): Promise<string> {
  let root = dockerRoots.get(docker);
  if (!root) {
    root = docker.info().then((info: { DockerRootDir: string }) => info.DockerRootDir);
    dockerRoots.set(docker, root);
  }
  const dir = join(await root, 'containers', containerId, 'checkpoints', name);
  if (options.fresh) {
    await rm(dir, { recursive: true, force: true });
  } else if (!existsSync(dir)) {
    throw new FaasError(
      ErrorCode.RUNTIME_UNAVAILABLE,
      `The engine's checkpoint folder ${dir} is not readable here: snapshots need the server on the engine's host, as root`,
    );
  }
  return dir;
}
