import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import type Docker from 'dockerode';
import { type CodeOrigin, extractTar, linkTree } from './code-cache.ts';
import { checkNpmManifest, checkRequirements, type DependencyPolicy } from './dependency-specs.ts';
import type { RuntimeImageTags } from './images/build-runtime-images.ts';
import { runInstallContainer } from './install-container.ts';
import { collectKeptTrees, useKeptTree } from './kept-trees.ts';
import type { EgressReady } from './network/egress-network.ts';
import { Turns } from './turns.ts';

/** The folder a python function's installed requirements are linked to (runner.py puts it on sys.path). */
export const PYTHON_PACKAGES_DIR = '.python_packages';

/** What one install may take. */
export const INSTALL_LIMITS = {
  timeoutMs: 5 * 60_000,
  memoryMb: 2048,
  /** The tmpfs the packages are installed to, and the one for caches and temporary files. */
  workMb: 1024,
  tmpMb: 512,
  /** Unpacked size and entries of what comes out. */
  maxBytes: 512 * 1024 * 1024,
  maxEntries: 200_000,
} as const;

/** The host's CA bundle, given to installs so they trust what the host trusts (a TLS proxy's CA). */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_MOUNT = '/etc/faas/ca-certificates.crt';

export interface DependencyInstallerOptions {
  docker: Docker;
  ownerId: string;
  /** Installed trees, by hash of their inputs. */
  cacheRoot: string;
  policy: DependencyPolicy;
  /** Where pip looks for packages (FAAS_PIP_INDEX_URL). */
  pipIndexUrl: string;
  imageTags: () => Promise<RuntimeImageTags>;
  /** The egress network installs fetch through: the public internet only, never the host. */
  egress: () => Promise<EgressReady>;
  /** The npm package run in the install container. @default the `npm` dependency of this package */
  npmDir?: string;
}

/**
 * Installs a function's dependencies (npm from package.json, pip from requirements.txt) inside a
 * sandbox container of its runtime image, never on the host: specs are checked first (registry
 * packages only, unless the operator allows others), install scripts do not run, and the
 * installed tree comes out as a tar that is unpacked with limits. Installs are cached by the hash
 * of their inputs and the project, so a project's versions with the same dependencies share one
 * and no two projects do: an entry one project made is never another's code.
 */
/**
 * Install containers at once. Each may hold 2 GiB and 1.5 GiB of tmpfs (INSTALL_LIMITS): many
 * deploys with different manifests at once wait their turn instead of taking the host's memory.
 */
const MAX_CONCURRENT_INSTALLS = 2;

export class DependencyInstaller {
  #options: DependencyInstallerOptions;
  #npmDir: string | undefined;
  /** Installs running, by tree: two code blobs with the same manifest share one. */
  #installing = new Map<string, Promise<string>>();
  #turns = new Turns(MAX_CONCURRENT_INSTALLS);

  constructor(options: DependencyInstallerOptions) {
    this.#options = options;
    this.#npmDir = options.npmDir;
  }

  /**
   * Installs what the code folder declares and links it in: `node_modules/` and
   * `.python_packages/`. Code that ships either is left alone.
   * @throws FaasError VALIDATION (a refused spec), COMPILE_ERROR (the install failed).
   */
  async install(codeDir: string, origin: CodeOrigin, onProgress: (message: string) => void): Promise<void> {
    await this.#npm(codeDir, origin, onProgress);
    await this.#pip(codeDir, origin, onProgress);
  }

  async #npm(codeDir: string, origin: CodeOrigin, onProgress: (message: string) => void): Promise<void> {
    const manifest = await readOptional(join(codeDir, 'package.json'));
    if (manifest === undefined || (await exists(join(codeDir, 'node_modules')))) return;
    const lock = await readOptional(join(codeDir, 'package-lock.json'));
    const plan = checkNpmManifest(manifest, lock, this.#options.policy);
    if (!plan) return;
    const allowed = this.#options.policy.allowNonRegistry;
    // Specs that may name local folders (file:) are installed from a copy of all the code (its
    // .npmrc too): the install is of that code, not of the manifest alone.
    const code = allowed ? origin.codeSha256 : '';
    const key = hash(['npm', origin.project, manifest, lock ?? '', this.#options.policy.npmRegistry, code]);
    const installed = await this.#cached(key, 'npm', origin.project, onProgress, async () => {
      const flags = [
        '--omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error',
        '--fetch-retries=2 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000',
        // npm's own refusals also cover what registry packages depend on.
        allowed
          ? '--allow-git=all --allow-remote=all --allow-file=all --allow-directory=all'
          : '--allow-git=none --allow-remote=none --allow-file=none --allow-directory=none',
      ].join(' ');
      const copy = allowed
        ? ['cp -R /code/. /work/']
        : [
            'cp /code/package.json /work/',
            'if [ -f /code/package-lock.json ]; then cp /code/package-lock.json /work/; fi',
          ];
      return {
        image: (await this.#options.imageTags()).node,
        binds: [`${codeDir}:/code:ro`, `${this.#npmPackageDir()}:/opt/npm:ro`],
        env: [`npm_config_registry=${this.#options.policy.npmRegistry}`, 'npm_config_cache=/tmp/.npm'],
        script: [
          'set -e',
          ...copy,
          'cd /work',
          `/usr/local/bin/node /opt/npm/bin/npm-cli.js ${plan.locked ? 'ci' : 'install'} ${flags} >&2`,
          'mkdir -p node_modules',
          // npm links file: folders into node_modules; links do not come out, what they point at does.
          `tar -c${allowed ? 'h' : ''}f - node_modules`,
        ].join('\n'),
      };
    });
    await linkTree(join(installed, 'node_modules'), join(codeDir, 'node_modules'));
  }

  async #pip(codeDir: string, origin: CodeOrigin, onProgress: (message: string) => void): Promise<void> {
    const text = await readOptional(join(codeDir, 'requirements.txt'));
    if (text === undefined || (await exists(join(codeDir, PYTHON_PACKAGES_DIR)))) return;
    if (!checkRequirements(text, this.#options.policy)) return;
    // pip counts packages the code already ships (with their .dist-info) as installed, by what
    // their files say; allowed specs may name the code's own folders and requirement files.
    const shipped = (await readdir(codeDir)).filter((n) => /\.(dist|egg)-info$/.test(n));
    const readsCode = this.#options.policy.allowNonRegistry || shipped.length > 0;
    const key = hash([
      'pip',
      origin.project,
      text,
      this.#options.pipIndexUrl,
      readsCode ? origin.codeSha256 : '',
    ]);
    const installed = await this.#cached(key, 'pip', origin.project, onProgress, async () => {
      return {
        image: (await this.#options.imageTags()).python,
        binds: [`${codeDir}:/code:ro`],
        env: ['PYTHONUSERBASE=/work/deps', `PIP_INDEX_URL=${this.#options.pipIndexUrl}`],
        // Every python3 runs isolated (-I: no PYTHON* variables, no script or current folder, no
        // user site on the path): the code's sitecustomize.py or pip/ would run in the install and
        // write into what comes out. pip sees the code's shipped .dist-info through copies of them
        // alone, at the end of its path.
        script: [
          'set -e',
          'mkdir -p /tmp/shipped',
          "find /code -mindepth 1 -maxdepth 1 \\( -name '*.dist-info' -o -name '*.egg-info' \\) -exec cp -R {} /tmp/shipped/ \\;",
          `python3 -I -c 'import runpy, sys; sys.path.append("/tmp/shipped"); runpy.run_module("pip", run_name="__main__", alter_sys=True)' \\`,
          '  install --user --break-system-packages --no-cache-dir --disable-pip-version-check \\',
          '  --no-input --no-warn-script-location --retries 1 --timeout 20 -r /code/requirements.txt >&2',
          // (`-m site --user-site` exits 1 when the user site is off, as -I turns it.)
          `site="$(python3 -I -c 'import site; print(site.getusersitepackages())')"`,
          'mkdir -p "$site"',
          'tar -C "$site" -cf - .',
        ].join('\n'),
      };
    });
    await linkTree(installed, join(codeDir, PYTHON_PACKAGES_DIR));
  }

  /** The installed tree for `key`: from the cache, or installed now in a container in `project`'s turn. */
  #cached(
    key: string,
    tool: 'npm' | 'pip',
    project: string,
    onProgress: (message: string) => void,
    setup: () => Promise<{ image: string; binds: string[]; env: string[]; script: string }>,
  ): Promise<string> {
    const name = `${tool}-${key}`;
    let running = this.#installing.get(name);
    if (!running) {
      running = this.#install(name, tool, project, onProgress, setup);
      this.#installing.set(name, running);
      void running.then(
        () => this.#installing.delete(name),
        () => this.#installing.delete(name),
      );
    }
    return running;
  }

  async #install(
    name: string,
    tool: 'npm' | 'pip',
    project: string,
    onProgress: (message: string) => void,
    setup: () => Promise<{ image: string; binds: string[]; env: string[]; script: string }>,
  ): Promise<string> {
    const installed = join(this.#options.cacheRoot, name);
    if (await useKeptTree(installed)) return installed;
    onProgress(`installing ${tool} dependencies`);
    const partial = join(this.#options.cacheRoot, `.${name}.${randomBytes(4).toString('hex')}.partial`);
    await mkdir(partial, { recursive: true, mode: 0o755 });
    try {
      const spec = await setup();
      const ca = existsSync(HOST_CA_BUNDLE);
      let unpacked: Promise<void> = Promise.resolve();
      const egress = await this.#options.egress();
      const run = await this.#turns.run(
        project,
        () =>
          runInstallContainer({
            docker: this.#options.docker,
            ownerId: this.#options.ownerId,
            image: spec.image,
            script: spec.script,
            env: [
              'HOME=/tmp',
              ...(ca
                ? [`NODE_EXTRA_CA_CERTS=${CA_MOUNT}`, `PIP_CERT=${CA_MOUNT}`, `SSL_CERT_FILE=${CA_MOUNT}`]
                : []),
              ...spec.env,
            ],
            binds: [...(ca ? [`${HOST_CA_BUNDLE}:${CA_MOUNT}:ro`] : []), ...spec.binds],
            limits: { memoryMb: INSTALL_LIMITS.memoryMb, network: true, isolation: 'runc' },
            egress,
            tmpfsMb: { '/tmp': INSTALL_LIMITS.tmpMb, '/work': INSTALL_LIMITS.workMb },
            timeoutMs: INSTALL_LIMITS.timeoutMs,
            maxOutputBytes: INSTALL_LIMITS.maxBytes + 64 * 1024 * 1024,
            onOutput: (stdout: Readable) => {
              unpacked = extractTar(stdout, partial, {
                maxBytes: INSTALL_LIMITS.maxBytes,
                maxEntries: INSTALL_LIMITS.maxEntries,
              });
              // Read on failure too, so the container never blocks on a full pipe.
              unpacked.catch(() => stdout.resume());
            },
          }),
        () => onProgress('waiting for other dependency installs to finish'),
      );
      const failed = installFailure(tool, run);
      if (failed) throw failed;
      try {
        await unpacked;
      } catch (err) {
        throw new FaasError(
          ErrorCode.COMPILE_ERROR,
          `Installing the function's ${tool} dependencies failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      await rm(installed, { recursive: true, force: true });
      await rename(partial, installed);
      await writeFile(`${installed}.complete`, '');
      return installed;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }

  /**
   * Removes the installed trees no deploy used since `unusedBefore` (kept-trees.ts). The code
   * folders that linked one keep its files; the next deploy with those dependencies installs again.
   */
  collect(unusedBefore: number): Promise<number> {
    return collectKeptTrees(this.#options.cacheRoot, unusedBefore, (name) => this.#installing.has(name));
  }

  /** The npm package to mount: this package's own `npm` dependency, so every host runs one npm. */
  #npmPackageDir(): string {
    this.#npmDir ??= dirname(createRequire(import.meta.url).resolve('npm/package.json'));
    return this.#npmDir;
  }
}

function installFailure(
  tool: 'npm' | 'pip',
  run: Awaited<ReturnType<typeof runInstallContainer>>,
): FaasError | undefined {
  const what = `Installing the function's ${tool} dependencies`;
  let message: string | undefined;
  if (run.timedOut) message = `${what} did not finish within ${INSTALL_LIMITS.timeoutMs / 1000} s`;
  else if (run.oomKilled) message = `${what} ran out of memory (${INSTALL_LIMITS.memoryMb} MB)`;
  else if (run.outputTooLarge) message = `${what} made more than ${INSTALL_LIMITS.maxBytes} bytes`;
  else if (run.exitCode !== 0) message = `${what} failed (exit ${run.exitCode}): ${logTail(run.stderrTail)}`;
  return message === undefined ? undefined : new FaasError(ErrorCode.COMPILE_ERROR, message);
}

/** The last lines of an install's log, without npm's pointer to a log file in the container. */
function logTail(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.trim() && !/A complete log of this run can be found in/.test(line))
    .slice(-10)
    .join('\n');
}

function hash(parts: string[]): string {
  const digest = createHash('sha256');
  for (const part of parts) digest.update(part).update('\0');
  return digest.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
