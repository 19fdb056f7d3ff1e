import type { DependencyCache } from '@faas/core';
import type Docker from 'dockerode';
import { MANAGED_LABEL, OWNER_LABEL, ROLE_LABEL, removeContainer } from './container-labels.ts';
import { SANDBOX_USER } from './container-limits.ts';
import { engineStatus } from './docker-engine.ts';

/**
 * Package caches shared by every sandbox that asks for them (seed 003's Replit-style caches): a
 * named volume each, mounted where the tool is told to look by its environment variable. The
 * first `npm install` downloads; later ones, in other containers, read the cache.
 *
 * Opt-in because they are shared: anything one sandbox writes there another may read, so only
 * workloads that trust each other should share them (npm's cache checks content hashes; pip's
 * wheel cache does not).
 */
export const DEPENDENCY_CACHES: Record<DependencyCache, { volume: string; path: string; env: string }> = {
  npm: { volume: 'faas-cache-npm', path: '/cache/npm', env: 'npm_config_cache' },
  pip: { volume: 'faas-cache-pip', path: '/cache/pip', env: 'PIP_CACHE_DIR' },
};

/** The binds and environment that give a container these caches. */
export function cacheMounts(caches: readonly DependencyCache[]): { binds: string[]; env: string[] } {
  const unique = [...new Set(caches)].sort();
  return {
    binds: unique.map((name) => `${DEPENDENCY_CACHES[name].volume}:${DEPENDENCY_CACHES[name].path}`),
    env: unique.map((name) => `${DEPENDENCY_CACHES[name].env}=${DEPENDENCY_CACHES[name].path}`),
  };
}

export interface DependencyVolumesOptions {
  docker: Docker;
  ownerId: string;
  /** An image with `chown`, to hand a new volume to the sandbox user. */
  helperImage: () => Promise<string>;
}

/**
 * Makes the caches' volumes exist, owned by the sandbox user (a new volume is root's, and
 * sandboxes never run as root). The volumes outlive servers on purpose: they are the cache.
 */
export class DependencyVolumes {
  #options: DependencyVolumesOptions;
  #ready = new Map<DependencyCache, Promise<void>>();

  constructor(options: DependencyVolumesOptions) {
    this.#options = options;
  }

  async prepare(caches: readonly DependencyCache[]): Promise<void> {
    await Promise.all(
      caches.map((name) => {
        let ready = this.#ready.get(name);
        if (!ready) {
          ready = this.#prepare(name);
          ready.catch(() => this.#ready.delete(name));
          this.#ready.set(name, ready);
        }
        return ready;
      }),
    );
  }

  async #prepare(name: DependencyCache): Promise<void> {
    const { docker } = this.#options;
    const { volume } = DEPENDENCY_CACHES[name];
    try {
      await docker.getVolume(volume).inspect();
    } catch (err) {
      if (engineStatus(err) !== 404) throw err;
      await docker.createVolume({ Name: volume, Labels: { [MANAGED_LABEL]: 'true', 'faas.cache': name } });
    }
    // Every time a server first uses it, not only when made: a volume made elsewhere is fixed too.
    const helper = await docker.createContainer({
      Image: await this.#options.helperImage(),
      User: '0:0',
      Entrypoint: ['chown', SANDBOX_USER, '/cache'],
      Cmd: [],
      Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: this.#options.ownerId, [ROLE_LABEL]: 'helper' },
      HostConfig: { Binds: [`${volume}:/cache`], NetworkMode: 'none' },
    });
    try {
      await helper.start();
      const { StatusCode } = (await helper.wait()) as { StatusCode: number };
      if (StatusCode !== 0) throw new Error(`chown of volume ${volume} exited with ${StatusCode}`);
    } finally {
      await removeContainer(docker, helper.id).catch(() => {});
    }
  }
}
