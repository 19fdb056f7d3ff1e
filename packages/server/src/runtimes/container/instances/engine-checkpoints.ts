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
