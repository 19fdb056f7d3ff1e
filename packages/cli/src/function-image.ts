import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CliError, EXIT } from './exit-codes.ts';
import { checkFunctionName } from './function-name.ts';
import { tarFolder } from './pack.ts';

/** The build arguments a function's Dockerfile can base itself on: the platform's own images. */
export const BASE_IMAGE_ARGS = {
  FAAS_BASE_IMAGE: 'base',
  FAAS_NODE_IMAGE: 'node',
  FAAS_PYTHON_IMAGE: 'python',
} as const;

/**
 * Builds an image function's folder (its Dockerfile and files, less what `.dockerignore`,
 * `.faasignore` and the default list leave out) in the local Docker Engine and returns the tag,
 * `faas-fn/<name>:<hash of the folder>`, with what was left out. No registry is reachable, so the
 * Dockerfile starts from an image the platform builds: the runtime images are built first when
 * missing and passed as the build arguments above. The engine must be the server's (the server
 * runs local images only): `DOCKER_HOST`, else /var/run/docker.sock.
 */
export async function buildFunctionImage(
  folder: string,
  name: string,
  onProgress: (message: string) => void,
): Promise<{ tag: string; leftOut: string[]; skipped: string[] }> {
  // The name is in the image's tag: one the server would refuse is refused before a build.
  checkFunctionName(name);
  // Loaded here: only image deploys need dockerode and the server's image code.
  const { buildRuntimeImages, createDockerClient, followDockerProgress, imageExists, pingEngine } =
    await import('../../server/src/runtimes/container/index.ts');
  const docker = createDockerClient();
  const engine = await pingEngine(docker);
  if (!engine.ok) throw new CliError(engine.reason, EXIT.UNREACHABLE);
  const tags = await buildRuntimeImages({
    docker,
    // The server's image cache when this shell names its data dir, else the per-user one.
    cacheDir: process.env.FAAS_DATA_DIR
      ? join(process.env.FAAS_DATA_DIR, 'containers', 'images')
      : join(homedir(), '.cache', 'faas', 'images'),
    onProgress: (p) => onProgress(`${p.image} image: ${p.message}`),
  });
  const buildargs: Record<string, string> = {};
  for (const [arg, image] of Object.entries(BASE_IMAGE_ARGS)) buildargs[arg] = tags[image];
  // The engine does not read .dockerignore from a context sent over its API: it is applied here.
  const context = await tarFolder(folder, { image: true });
  const packed = { leftOut: context.leftOut, skipped: context.skipped };
  const hash = createHash('sha256').update(context.tar);
  for (const [arg, value] of Object.entries(buildargs).sort()) hash.update(`\n${arg}=${value}`);
  const tag = `faas-fn/${name}:${hash.digest('hex').slice(0, 16)}`;
  if (await imageExists(docker, tag)) return { tag, ...packed };
  onProgress(`building ${tag}`);
  let last = '';
  try {
    const stream = await docker.buildImage(Readable.from([context.tar]), {
      t: tag,
      buildargs,
      labels: { 'faas.function-image': name },
      rm: true,
      forcerm: true,
    });
    await followDockerProgress(docker, stream, (line) => {
      last = line;
      onProgress(line);
    });
  } catch (err) {
    // The user's Dockerfile failed: a refused deploy, with the build's own words.
    const reason = (err as Error).message || last;
    throw new CliError(`The image of ${name} did not build: ${reason}`, EXIT.REJECTED);
  }
  if (!(await imageExists(docker, tag)))
    throw new CliError(`The image of ${name} did not build: ${last}`, EXIT.REJECTED);
  return { tag, ...packed };
}
