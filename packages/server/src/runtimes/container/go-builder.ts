import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_PROJECT, ErrorCode, FaasError } from '@faas/core';
import type Docker from 'dockerode';
import { extractTar, linkTree } from './code-cache.ts';
import { MANAGED_LABEL, OWNER_LABEL } from './container-labels.ts';
import { goBuildFailure } from './go-build-errors.ts';
import { type InstallRun, runInstallContainer } from './install-container.ts';
import { collectKeptTrees, useKeptTree } from './kept-trees.ts';
import { Turns } from './turns.ts';

/** Where a go function's binary sits in its built folder (the launcher in images/go execs it). */
export const GO_BINARY_DIR = '.faas-go';

/** What one build may take. */
export const GO_BUILD_LIMITS = {
  timeoutMs: 5 * 60_000,
  memoryMb: 2048,
  workMb: 1024,
  tmpMb: 512,
  maxBinaryBytes: 256 * 1024 * 1024,
} as const;

/** Builds at once: each may hold 2 GiB; more deploys wait their turn. */
const MAX_CONCURRENT_BUILDS = 2;

/** Where the build cache volume is mounted in a build container (the go image makes it 65534's). */
const GOCACHE_MOUNT = '/cache/go-build';

/** A Go identifier: what the build writes into the generated source, and nothing else. */
const GO_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface GoBuilderOptions {
  docker: Docker;
  ownerId: string;
  /** Built folders, by hash of their inputs. */
  root: string;
  /** The go image's tag, built on first use. */
  image: () => Promise<string>;
}

/** What a build needs of a function version. */
export interface GoBuildInput {
  codeSha256: string;
  /** Whose build this is: builds take turns by project. @default DEFAULT_PROJECT */
  project?: string | undefined;
  /** `file.Function`: the function is the handler. */
  handler: string;
}

/**
 * Compiles go functions at deploy: the function's package main, the runner
 * (images/agent/go/runner) and a generated file naming the handler, with `go build` in a
 * hardened container of the go image (no network, no capabilities, read-only root, memory and
 * time limits, CGO off so no C compiler runs). Go runs none of the code it compiles, and the
 * module proxy is off: modules come from `vendor/`. The build cache (GOCACHE) is a Docker volume
 * of this server, so later builds do not compile the standard library again. The result is a
 * folder: the code (hard links) and `.faas-go/function`, cached by code, handler and image.
 */
export class GoBuilder {
  #options: GoBuilderOptions;
  #building = new Map<string, Promise<string>>();
  #turns = new Turns(MAX_CONCURRENT_BUILDS);
  #volume: Promise<string> | undefined;

  constructor(options: GoBuilderOptions) {
    this.#options = options;
  }

  /** The Docker volume that holds this server's Go build cache. */
  get cacheVolume(): string {
    return `faas-go-build-${this.#options.ownerId}`;
  }

  /**
   * The folder of `fn` built from its unpacked code `codeDir`: from the cache, or built now.
   * @throws FaasError COMPILE_ERROR (422) with the file and line of the first compile error.
   */
  built(
    codeDir: string,
    fn: GoBuildInput,
    onProgress: (message: string) => void = () => {},
  ): Promise<string> {
    const name = fn.handler.slice(fn.handler.lastIndexOf('.') + 1);
    if (!GO_IDENTIFIER.test(name)) {
      return Promise.reject(
        new FaasError(ErrorCode.VALIDATION, `The handler "${fn.handler}" does not name a Go function`),
      );
    }
    return this.#options.image().then((image) => {
      const key = createHash('sha256').update(`${fn.codeSha256}\0${name}\0${image}`).digest('hex');
      let running = this.#building.get(key);
      if (!running) {
        running = this.#build(key, codeDir, name, image, fn.project ?? DEFAULT_PROJECT, onProgress);
        this.#building.set(key, running);
        const forget = () => this.#building.delete(key);
        running.then(forget, forget);
      }
      return running;
    });
  }

  /** Removes the builds no container used since `unusedBefore` (kept-trees.ts). */
  collect(unusedBefore: number): Promise<number> {
    return collectKeptTrees(this.#options.root, unusedBefore, (key) => this.#building.has(key));
  }

  async #build(
    key: string,
    codeDir: string,
    handlerName: string,
    image: string,
    project: string,
    onProgress: (message: string) => void,
  ): Promise<string> {
    const built = join(this.#options.root, key);
    if (await useKeptTree(built)) return built;
    await mkdir(this.#options.root, { recursive: true, mode: 0o755 });
    const partial = join(this.#options.root, `.${key}.${randomBytes(4).toString('hex')}.partial`);
    try {
      await linkTree(codeDir, partial);
      // Code that ships its own `.faas-go` does not choose the binary.
      const binaryDir = join(partial, GO_BINARY_DIR);
      await rm(binaryDir, { recursive: true, force: true });
      await mkdir(binaryDir, { mode: 0o755 });
      const volume = await this.#cacheVolume();
      let unpacked: Promise<void> = Promise.resolve();
      const run = await this.#turns.run(
        project,
        () => {
          onProgress('compiling the go function');
          return runInstallContainer({
            docker: this.#options.docker,
            ownerId: this.#options.ownerId,
            image,
            script: BUILD_SCRIPT,
            env: [
              'HOME=/tmp',
              `FAAS_GO_HANDLER=${handlerName}`,
              `GOCACHE=${GOCACHE_MOUNT}`,
              'GOPATH=/tmp/go',
              'GOPROXY=off',
              'GOSUMDB=off',
              'GOTOOLCHAIN=local',
              'GOTELEMETRY=off',
              'CGO_ENABLED=0',
            ],
            binds: [`${codeDir}:/code:ro`, `${volume}:${GOCACHE_MOUNT}`],
            limits: { memoryMb: GO_BUILD_LIMITS.memoryMb, network: false, isolation: 'runc' },
            tmpfsMb: { '/tmp': GO_BUILD_LIMITS.tmpMb, '/work': GO_BUILD_LIMITS.workMb },
            timeoutMs: GO_BUILD_LIMITS.timeoutMs,
            maxOutputBytes: GO_BUILD_LIMITS.maxBinaryBytes + 1024 * 1024,
            onOutput: (stdout: Readable) => {
              unpacked = extractTar(stdout, binaryDir, {
                maxBytes: GO_BUILD_LIMITS.maxBinaryBytes,
                maxEntries: 1,
              });
              unpacked.catch(() => stdout.resume());
            },
          });
        },
        () => onProgress('waiting for other go builds to finish'),
      );
      const failed = buildFailure(run, handlerName);
      if (failed) throw failed;
      const compiled = compiledPackages(run.stderrTail);
      onProgress(
        `compiled ${compiled.length} go package(s) (${compiled.join(', ')}); the rest came from the build cache`,
      );
      try {
        await unpacked;
      } catch (err) {
        throw new FaasError(
          ErrorCode.COMPILE_ERROR,
          `Building the go function failed: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (!(await exists(join(binaryDir, 'function'))))
        throw new FaasError(ErrorCode.COMPILE_ERROR, 'Building the go function made no binary');
      await rm(built, { recursive: true, force: true });
      await rename(partial, built);
      await writeFile(`${built}.complete`, '');
      return built;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }

  /** Makes the build cache volume once, labelled as this server's. */
  #cacheVolume(): Promise<string> {
    this.#volume ??= this.#options.docker
      .createVolume({
        Name: this.cacheVolume,
        Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: this.#options.ownerId },
      })
      .then(() => this.cacheVolume);
    this.#volume.catch(() => {
      this.#volume = undefined;
    });
    return this.#volume;
  }
}

/**
 * The build, in the container: the code is copied beside the runner and the generated handler
 * file (the handler name is a checked Go identifier), a module is made when the code has none,
 * and `vendor/` is used when it is there. The binary comes out as a tar on stdout.
 */
const BUILD_SCRIPT = [
  'set -e',
  'mkdir -p /work/src /work/out',
  'cp -R /code/. /work/src/',
  `rm -rf /work/src/${GO_BINARY_DIR} /work/src/.complete`,
  'cp /opt/faas/go/runner/*.go /work/src/',
  `printf 'package main\\n\\nimport (\\n\\t"context"\\n\\t"encoding/json"\\n)\\n\\nvar faasHandler func(context.Context, json.RawMessage) (any, error) = %s\\n' "$FAAS_GO_HANDLER" > /work/src/zz_faas_handler.go`,
  'cd /work/src',
  'if [ ! -f go.mod ]; then go mod init faas.local/function >/dev/null 2>&1; fi',
  'if [ -f vendor/modules.txt ]; then mode=-mod=vendor; else mode=-mod=mod; fi',
  // -v lists the packages compiled, not those the build cache had.
  'go build -v "$mode" -trimpath -buildvcs=false -o /work/out/function . >&2',
  'tar -C /work/out -cf - function',
].join('\n');

function buildFailure(run: InstallRun, handlerName: string): FaasError | undefined {
  if (run.timedOut)
    return new FaasError(
      ErrorCode.COMPILE_ERROR,
      `Building the go function did not finish within ${GO_BUILD_LIMITS.timeoutMs / 1000} s`,
    );
  if (run.oomKilled)
    return new FaasError(
      ErrorCode.COMPILE_ERROR,
      `Building the go function ran out of memory (${GO_BUILD_LIMITS.memoryMb} MB)`,
    );
  if (run.outputTooLarge)
    return new FaasError(
      ErrorCode.COMPILE_ERROR,
      `The go function's binary is larger than ${GO_BUILD_LIMITS.maxBinaryBytes} bytes`,
    );
  if (run.exitCode !== 0) return goBuildFailure(run.stderrTail, handlerName);
  return undefined;
}

/** The package paths `go build -v` listed: one per line, nothing else on it. */
export function compiledPackages(output: string): string[] {
  return output.split('\n').filter((line) => /^[\w.~+-]+(\/[\w.~+-]+)*$/.test(line));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
