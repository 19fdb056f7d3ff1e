import { join } from 'node:path';
import ora from 'ora';
import { CliError, EXIT } from '../exit-codes.ts';
import { type Output, print, table } from '../output.ts';

/**
 * `faas images build`: builds the node and python runtime images (and their debootstrap base) in
 * the local Docker Engine, skipping images whose content-hash tag exists. Uses the same cache
 * folder as a server with the same data dir, so the server finds them built.
 */
export async function buildImages(out: Output, dataDir: string): Promise<void> {
  const { buildRuntimeImages, createDockerClient, pingEngine } = await import(
    '../../../server/src/runtimes/container/index.ts'
  );
  const docker = createDockerClient();
  const engine = await pingEngine(docker);
  if (!engine.ok) throw new CliError(engine.reason, EXIT.UNREACHABLE);
  const spinner =
    out.json || !process.stderr.isTTY
      ? undefined
      : ora({ stream: process.stderr }).start('Checking runtime images');
  const tags = await buildRuntimeImages({
    docker,
    cacheDir: join(dataDir, 'containers', 'images'),
    onProgress: (p) => {
      if (spinner) spinner.text = `${p.image}: ${p.message}`;
      else if (!out.json) process.stderr.write(`${p.image}: ${p.message}\n`);
    },
  });
  spinner?.succeed('Runtime images ready');
  print(out, tags, () => table(['RUNTIME', 'IMAGE'], Object.entries(tags)));
}
