import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { followDockerProgress, type ImageProgressListener, imageExists } from './image-progress.ts';

/**
 * The recipe of the base image. No registry is reachable from these machines, so the base is a
 * Debian rootfs made by debootstrap and imported with `docker import`. The tag hashes the recipe,
 * so a changed recipe makes a new image and an unchanged one is never rebuilt.
 */
const BASE_RECIPE = {
  suite: 'bookworm',
  variant: 'minbase',
  mirror: 'http://deb.debian.org/debian',
  // Dropped after debootstrap: nothing at run time reads them, and they are a third of the size.
  prune: ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'var/cache/apt/archives'],
  revision: 1,
} as const;

export const BASE_REPOSITORY = 'faas/base';

export function baseImageTag(): string {
  const hash = createHash('sha256').update(JSON.stringify(BASE_RECIPE)).digest('hex').slice(0, 16);
  return `${BASE_REPOSITORY}:${hash}`;
}

function run(command: string, args: string[], onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) onLine(line.trimEnd());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) =>
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error(`${command} is not installed: run scripts/install-engine.sh (as root)`)
          : err,
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} exited with ${code}: ${tail.trim().slice(-1000)}`)),
    );
  });
}

/** Makes the rootfs tarball with debootstrap (needs root), or reuses the cached one. */
async function rootfsTarball(cacheDir: string, tag: string, onLine: (line: string) => void): Promise<string> {
  const hash = tag.split(':')[1];
  const tarball = join(cacheDir, `base-${hash}.tar`);
  if (existsSync(tarball)) return tarball;
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'faas-rootfs-'));
  const root = join(work, 'rootfs');
  try {
    await run(
      'debootstrap',
      [`--variant=${BASE_RECIPE.variant}`, BASE_RECIPE.suite, root, BASE_RECIPE.mirror],
      onLine,
    );
    for (const path of BASE_RECIPE.prune) await rm(join(root, path), { recursive: true, force: true });
    const partial = `${tarball}.${process.pid}.partial`;
    await run('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', partial, '.'], onLine);
    await rename(partial, tarball);
    return tarball;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Builds the base image unless it exists; returns its tag. */
export async function ensureBaseImage(
  docker: Docker,
  cacheDir: string,
  onProgress: ImageProgressListener,
): Promise<string> {
  const tag = baseImageTag();
  if (await imageExists(docker, tag)) {
    onProgress({ image: 'base', tag, phase: 'cached', message: `${tag} is already built` });
    return tag;
  }
  onProgress({
    image: 'base',
    tag,
    phase: 'start',
    message: `building ${tag} (debootstrap ${BASE_RECIPE.suite})`,
  });
  const step = (message: string) => onProgress({ image: 'base', tag, phase: 'step', message });
  const tarball = await rootfsTarball(cacheDir, tag, step);
  const [repo, version] = tag.split(':');
  const stream = await docker.importImage(createReadStream(tarball), { repo, tag: version });
  await followDockerProgress(docker, stream, step);
  onProgress({ image: 'base', tag, phase: 'done', message: `built ${tag}` });
  return tag;
}
