import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BASE_REPOSITORY, baseImageTag, ensureBaseImage } from './base-image.ts';
import { followDockerProgress, type ImageProgressListener, imageExists } from './image-progress.ts';
import {
  buildContext,
  DEFAULT_IMAGES_DIR,
  goImageSpec,
  type RuntimeImageSpec,
  runtimeImageSpecs,
} from './runtime-images.ts';

export interface BuildRuntimeImagesOptions {
  docker: Docker;
  onProgress?: ImageProgressListener;
  /** Where the debootstrap rootfs tarball is kept, so it is made once. @default ~/.cache/faas/images */
  cacheDir?: string;
  /** Dockerfiles and agents. @default the repository's images/ */
  imagesDir?: string;
  /** false: fail on a missing image instead of building it. @default true */
  buildMissing?: boolean;
}

/** The tags of the runtime images, by runtime. */
export interface RuntimeImageTags {
  base: string;
  node: string;
  python: string;
}

/**
 * Builds the base, node and python runtime images in the local engine, skipping those whose
 * content-hash tag already exists. Safe to run again and from several processes at once.
 * @example await buildRuntimeImages({ docker, onProgress: (e) => console.log(e.image, e.message) })
 */
export async function buildRuntimeImages(options: BuildRuntimeImagesOptions): Promise<RuntimeImageTags> {
  const { docker } = options;
  const onProgress = options.onProgress ?? (() => {});
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'faas', 'images');
  if (options.buildMissing === false) {
    const tags = await runtimeImageTags(options.imagesDir);
    for (const tag of [tags.node, tags.python]) {
      if (!(await imageExists(docker, tag)))
        throw new Error(`Runtime image ${tag} is not built: run \`faas images build\``);
    }
    return tags;
  }
  const base = await ensureBaseImage(docker, cacheDir, onProgress);
  const tags: RuntimeImageTags = { base, node: '', python: '' };
  for (const spec of await runtimeImageSpecs(base, options.imagesDir ?? DEFAULT_IMAGES_DIR)) {
    if (spec.name !== 'go') tags[spec.name] = spec.tag;
    await buildImage(docker, spec, base, onProgress);
  }
  return tags;
}

/**
 * Builds the go runtime image (and the base) unless its content-hash tag exists; returns its tag.
 * Apart from buildRuntimeImages: only servers that deploy go functions pay for the toolchain.
 */
export async function buildGoImage(options: BuildRuntimeImagesOptions): Promise<string> {
  const { docker } = options;
  const onProgress = options.onProgress ?? (() => {});
  const imagesDir = options.imagesDir ?? DEFAULT_IMAGES_DIR;
  if (options.buildMissing === false) {
    const spec = await goImageSpec(baseImageTag(), imagesDir);
    if (!(await imageExists(docker, spec.tag)))
      throw new Error(`Runtime image ${spec.tag} is not built: run \`faas images build\``);
    return spec.tag;
  }
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'faas', 'images');
  const base = await ensureBaseImage(docker, cacheDir, onProgress);
  const spec = await goImageSpec(base, imagesDir);
  await buildImage(docker, spec, base, onProgress);
  return spec.tag;
}

async function buildImage(
  docker: Docker,
  spec: RuntimeImageSpec,
  base: string,
  onProgress: ImageProgressListener,
): Promise<void> {
  if (await imageExists(docker, spec.tag)) {
    onProgress({ image: spec.name, tag: spec.tag, phase: 'cached', message: `${spec.tag} is already built` });
    return;
  }
  onProgress({ image: spec.name, tag: spec.tag, phase: 'start', message: `building ${spec.tag}` });
  const stream = await docker.buildImage(buildContext(spec), {
    t: spec.tag,
    buildargs: { BASE: base },
    labels: { 'faas.managed': 'true', 'faas.runtime-image': spec.name },
    rm: true,
    forcerm: true,
  });
  await followDockerProgress(docker, stream, (message) =>
    onProgress({ image: spec.name, tag: spec.tag, phase: 'step', message }),
  );
  if (!(await imageExists(docker, spec.tag))) throw new Error(`building ${spec.tag} ended without the image`);
  onProgress({ image: spec.name, tag: spec.tag, phase: 'done', message: `built ${spec.tag}` });
}

/** The tags the runtime images have (or will have once built), without building anything. */
export async function runtimeImageTags(imagesDir = DEFAULT_IMAGES_DIR): Promise<RuntimeImageTags> {
  const base = baseImageTag();
  const specs = await runtimeImageSpecs(base, imagesDir);
  const find = (name: string) => specs.find((s) => s.name === name)?.tag ?? '';
  return { base, node: find('node'), python: find('python') };
}

/**
 * Removes runtime images other than the current tags (left by earlier agent or Dockerfile
 * versions). Images that containers still use are kept. Returns the removed tags.
 */
export async function pruneRuntimeImages(docker: Docker, imagesDir = DEFAULT_IMAGES_DIR): Promise<string[]> {
  const current = await runtimeImageTags(imagesDir);
  const go = await goImageSpec(current.base, imagesDir);
  const keep = new Set([current.base, current.node, current.python, go.tag]);
  const removed: string[] = [];
  for (const repository of [BASE_REPOSITORY, 'faas/node', 'faas/python', 'faas/go']) {
    const images = await docker.listImages({ filters: JSON.stringify({ reference: [repository] }) });
    for (const image of images) {
      for (const tag of image.RepoTags ?? []) {
        if (keep.has(tag)) continue;
        try {
          await docker.getImage(tag).remove();
          removed.push(tag);
        } catch (err) {
          // 409: a container (or a child image) still uses it.
          if ((err as { statusCode?: number }).statusCode !== 409) throw err;
        }
      }
    }
  }
  return removed;
}
