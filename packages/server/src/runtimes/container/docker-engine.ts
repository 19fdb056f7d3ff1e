import { ErrorCode, FaasError } from '@faas/core';
import Docker from 'dockerode';

/** How to get an engine, for messages shown when none answers. */
export const ENGINE_HINT =
  'run scripts/install-engine.sh as root to install and start Docker Engine (docker.io) with gVisor, or set DOCKER_HOST';

/**
 * A Docker Engine client for `DOCKER_HOST` (unix://, tcp://, http://) or the default socket.
 * Creating it does not connect.
 */
export function createDockerClient(dockerHost: string | undefined = process.env.DOCKER_HOST): Docker {
  if (!dockerHost) return new Docker({ socketPath: '/var/run/docker.sock' });
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({
    host: url.hostname,
    port: Number(url.port || 2375),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
  });
}

/**
 * Whether the engine `DOCKER_HOST` names runs on this machine: a Unix socket or a loopback
 * address. The host-side parts of sandboxes (the egress firewall, the cache mounts) need that.
 */
export function engineIsLocal(dockerHost: string | undefined = process.env.DOCKER_HOST): boolean {
  if (!dockerHost || dockerHost.startsWith('unix://')) return true;
  try {
    const { hostname } = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
  } catch {
    return false;
  }
}

/** Whether an engine answers, within `timeoutMs`; the reason when not. */
export async function pingEngine(
  docker: Docker,
  timeoutMs = 2000,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `No Docker Engine answers (${(err as Error).message}): ${ENGINE_HINT}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The HTTP status of a failed Engine API call, if it was one. */
export function engineStatus(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

/** What to say when the engine has no such image: none can be pulled from these machines. */
export function missingImageMessage(image: string): string {
  return `Image "${image}" is not in the local engine; no registry is reachable, so build or load it first`;
}

/** A request that names an image the engine does not have (400). */
export function missingImageError(image: string, cause?: unknown): FaasError {
  return new FaasError(ErrorCode.BAD_REQUEST, missingImageMessage(image), cause ? { cause } : {});
}
