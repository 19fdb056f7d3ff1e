import { randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type DependencyCache, ErrorCode, FaasError, isProjectId } from '@faas/core';
import { SANDBOX_USER } from './container-limits.ts';
import { type CommandRunner, runCommand } from './network/egress-firewall.ts';

/**
 * Package caches (seed 003's Replit-style caches), opt-in per sandbox: mounted where the tool is
 * told to look by its environment variable, so the first `npm install` downloads and later ones,
 * in other containers of the same project, read the cache.
 *
 * Each (project, cache) is its own ext4 file system in a sparse image file of a fixed size (the
 * cap, `FAAS_DEPENDENCY_CACHE_MB`), loop-mounted on the host and bind-mounted into the
 * project's containers: a sandbox that fills it gets ENOSPC, never more of the host's disk, and
 * no sandbox of another project has it mounted. Shared within a project: anything one sandbox
 * writes there another of the project may read (npm's cache checks content hashes; pip's wheel
 * cache does not).
 */
export const DEPENDENCY_CACHES: Record<DependencyCache, { path: string; env: string }> = {
  npm: { path: '/cache/npm', env: 'npm_config_cache' },
  pip: { path: '/cache/pip', env: 'PIP_CACHE_DIR' },
  // Go's module cache (downloaded modules; the build cache stays the container's own).
  go: { path: '/cache/go', env: 'GOMODCACHE' },
  // Cargo's home holds its registry index and downloaded crates.
  cargo: { path: '/cache/cargo', env: 'CARGO_HOME' },
};

/** The binds and environment that give a container its project's caches. */
export interface CacheMounts {
  binds: string[];
  env: string[];
}

export const NO_CACHES: CacheMounts = Object.freeze({ binds: [], env: [] }) as CacheMounts;

export interface DependencyCachesOptions {
  /** Where the images and their mount points live (`<root>/<project>/<cache>.img`, `…/<cache>/`). */
  root: string;
  /** Size of each cache's file system. */
  capMb: number;
  /** How mkfs, mount and umount are run. @default runCommand */
  run?: CommandRunner;
}

/** Makes, mounts and hands out the size-capped cache file systems. Needs root (mount). */
export class DependencyCaches {
  #options: DependencyCachesOptions;
  #run: CommandRunner;
  #mounting = new Map<string, Promise<void>>();
  #mounted = new Set<string>();

  constructor(options: DependencyCachesOptions) {
    this.#options = options;
    this.#run = options.run ?? runCommand;
  }

  /** The image file and mount point of a project's cache. */
  paths(project: string, cache: DependencyCache): { image: string; mountPoint: string } {
    const dir = join(this.#options.root, project);
    return { image: join(dir, `${cache}.img`), mountPoint: join(dir, cache) };
  }

  /**
   * Mounts the project's caches (making them on first use) and answers how to give them to a
   * container.
   * @throws FaasError VALIDATION for a bad project id; RUNTIME_UNAVAILABLE when they cannot be
   *   made or mounted (the server is not root, no loop devices).
   */
  async prepare(project: string, caches: readonly DependencyCache[]): Promise<CacheMounts> {
    if (!isProjectId(project)) throw new FaasError(ErrorCode.VALIDATION, `"${project}" is not a project id`);
    const unique = [...new Set(caches)].sort();
    if (unique.length === 0) return NO_CACHES;
    const mounted = await mountedPoints();
    await Promise.all(unique.map((cache) => this.#ensureMounted(project, cache, mounted)));
    return {
      binds: unique.map(
        (cache) => `${this.paths(project, cache).mountPoint}:${DEPENDENCY_CACHES[cache].path}`,
      ),
      env: unique.map((cache) => `${DEPENDENCY_CACHES[cache].env}=${DEPENDENCY_CACHES[cache].path}`),
    };
  }

  /** Unmounts what this process mounted; the images stay (they are the cache). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#mounting.values()]);
    for (const mountPoint of this.#mounted) {
      // Lazily when busy: containers keep their own mounts of it either way.
      await this.#run('umount', [mountPoint]).catch(() =>
        this.#run('umount', ['-l', mountPoint]).catch(() => {}),
      );
    }
    this.#mounted.clear();
  }

  #ensureMounted(project: string, cache: DependencyCache, mounted: Set<string>): Promise<void> {
    const { image, mountPoint } = this.paths(project, cache);
    if (mounted.has(mountPoint)) return Promise.resolve();
    let pending = this.#mounting.get(mountPoint);
    if (!pending) {
      pending = this.#mount(image, mountPoint).finally(() => this.#mounting.delete(mountPoint));
      this.#mounting.set(mountPoint, pending);
    }
    return pending;
  }

  async #mount(image: string, mountPoint: string): Promise<void> {
    try {
      // Root's and closed: unmounted, the mount point is a folder sandboxes cannot write to.
      await mkdir(mountPoint, { recursive: true, mode: 0o755 });
      await this.#makeImage(image);
      await this.#run('mount', ['-o', 'loop,nosuid,nodev', image, mountPoint]);
      this.#mounted.add(mountPoint);
    } catch (err) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Dependency caches are size-capped file systems the server mounts, which needs root and loop devices on the Docker host: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** A sparse file of the cap's size with an ext4 file system owned by the sandbox user. */
  async #makeImage(image: string): Promise<void> {
    if (await exists(image)) return;
    const partial = `${image}.${randomBytes(4).toString('hex')}.partial`;
    try {
      const file = await open(partial, 'wx', 0o600);
      await file.truncate(this.#options.capMb * 1024 * 1024);
      await file.close();
      // -m 0: no blocks kept for root, who never writes there.
      await this.#run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', `root_owner=${SANDBOX_USER}`, partial]);
      // Renamed only when whole, so a crash never leaves a half-made cache under its name.
      await rename(partial, image);
    } finally {
      await rm(partial, { force: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Mount points of this mount namespace, as the kernel lists them (octal escapes undone). */
async function mountedPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field)
      points.add(
        field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
      );
  }
  return points;
}
