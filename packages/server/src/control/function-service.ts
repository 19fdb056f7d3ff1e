import {
  type BlobStore,
  type CodeInput,
  ErrorCode,
  FaasError,
  type FunctionConfig,
  type FunctionInput,
  type FunctionRecord,
  type FunctionVersion,
  type MetadataStore,
  type NewFunctionVersion,
  type Page,
  type PageRequest,
  type Runtime,
  type Runtimes,
} from '@faas/core';
import { prepareCode } from './code/prepare-code.ts';
import { type FunctionCatalog, notFound } from './function-catalog.ts';
import {
  FUNCTION_NAME_PATTERN,
  type FunctionCaps,
  resolveConfig,
  sameConfig,
  validation,
} from './function-config.ts';
import type { RouteSync } from './route-sync.ts';

export interface FunctionServiceDeps {
  store: MetadataStore;
  blobs: BlobStore;
  catalog: FunctionCatalog;
  routes: RouteSync;
  runtimes: Runtimes;
  /** Largest uncompressed code accepted. */
  maxCodeBytes: number;
  /** The operator's caps on memoryMb and maxConcurrency. @default the API's own limits */
  caps?: FunctionCaps;
  logger?: Pick<Console, 'warn'>;
}

export type DeployResult = { record: FunctionRecord; outcome: 'created' | 'updated' | 'unchanged' };

/** Functions and their versions: every change of code or config makes a new immutable version. */
export class FunctionService {
  #d: FunctionServiceDeps;

  constructor(deps: FunctionServiceDeps) {
    this.#d = deps;
  }

  async create(input: FunctionInput): Promise<FunctionRecord> {
    const name = checkName(input.name);
    const config = resolveConfig(input, undefined, this.#d.caps);
    const code = await this.#code(input.code, config);
    const record = await this.#d.store.createFunction({ name, ...config, ...code });
    await this.#changed(record);
    return record;
  }

  /** Create-or-replace: the whole function is given. Identical code and config make no version. */
  async put(name: string, input: FunctionInput): Promise<DeployResult> {
    checkName(name);
    if (input.name !== undefined && input.name !== name) {
      throw validation([{ field: 'name', message: `must match the path ("${name}") when given` }]);
    }
    const current = await this.#d.store.getFunction(name);
    if (!current) {
      try {
        return { record: await this.create({ ...input, name }), outcome: 'created' };
      } catch (err) {
        // Lost a race with a concurrent create of the same name: replace it instead.
        if (!(err instanceof FaasError && err.code === ErrorCode.FUNCTION_EXISTS)) throw err;
        return this.put(name, input);
      }
    }
    const config = resolveConfig(input, undefined, this.#d.caps);
    const code = await this.#code(input.code, config);
    return this.#addVersion(current, config, code);
  }

  /** Changes some fields; code is kept unless given (and rebuilt when the handler or runtime moved). */
  async patch(name: string, input: FunctionInput): Promise<DeployResult> {
    if (input.name !== undefined && input.name !== name) {
      throw validation([{ field: 'name', message: 'cannot be changed; create a new function instead' }]);
    }
    const current = await this.#d.store.getFunction(name);
    if (!current) throw notFound(name);
    const base = current.latest;
    const config = resolveConfig(input, base, this.#d.caps);
    let code: CodeFields;
    if (input.code !== undefined) {
      code = await this.#code(input.code, config);
    } else if (config.handler !== base.handler || config.runtime !== base.runtime) {
      code = await this.#rebuild(base, config);
    } else {
      code = {
        codeSha256: base.codeSha256,
        codeSizeBytes: base.codeSizeBytes,
        artifactSha256: base.artifactSha256,
      };
    }
    return this.#addVersion(current, config, code);
  }

  async get(name: string): Promise<FunctionRecord> {
    const record = await this.#d.store.getFunction(name);
    if (!record) throw notFound(name);
    return record;
  }

  list(page: PageRequest): Promise<Page<FunctionRecord>> {
    return this.#d.store.listFunctions(page);
  }

  async versions(name: string, page: PageRequest): Promise<Page<FunctionVersion>> {
    await this.get(name);
    return this.#d.store.listVersions(name, page);
  }

  async version(name: string, version: number): Promise<FunctionVersion> {
    return this.#d.catalog.resolve(name, version);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.#d.store.deleteFunction(name))) throw notFound(name);
    this.#d.catalog.forget(name);
    await this.#d.routes.refresh();
    await this.#d.runtimes.retire(name);
  }

  async #addVersion(
    current: FunctionRecord,
    config: FunctionConfig,
    code: CodeFields,
  ): Promise<DeployResult> {
    const latest = current.latest;
    if (
      sameConfig(config, latest) &&
      code.codeSha256 === latest.codeSha256 &&
      code.artifactSha256 === latest.artifactSha256
    ) {
      return { record: current, outcome: 'unchanged' };
    }
    const input: NewFunctionVersion = { name: current.name, ...config, ...code };
    const record = await this.#d.store.addVersion(input, current.latestVersion);
    await this.#changed(record);
    // The old version's warm instances drain: in-flight calls finish, new calls go to the new one.
    await this.#d.runtimes.retire(current.name, latest.version);
    return { record, outcome: 'updated' };
  }

  async #changed(record: FunctionRecord): Promise<void> {
    this.#d.catalog.setLatest(record.latest);
    await this.#d.routes.refresh();
    this.#warm(record.latest);
  }

  /**
   * Container versions start preparing at deploy (dependency install, a warm container) so the
   * first invoke does not pay for it; the deploy does not wait. Isolates load in ~2 ms on first
   * use, which is cheaper than holding one per deployed version.
   */
  #warm(fn: FunctionVersion): void {
    if (fn.runtime === 'js' || fn.runtime === 'ts') return;
    let runtime: Runtime;
    try {
      runtime = this.#d.runtimes.forFunction(fn.runtime);
    } catch {
      return; // No engine: the invoke will answer 503 with how to get one.
    }
    runtime.prepare(fn).catch((err: unknown) => {
      this.#d.logger?.warn(`preparing ${fn.name}:${fn.version} failed: ${(err as Error).message}`);
    });
  }

  async #code(input: CodeInput | undefined, config: FunctionConfig): Promise<CodeFields> {
    if (input === undefined && config.runtime !== 'image') {
      throw validation([{ field: 'code', message: 'is required' }]);
    }
    const prepared = await prepareCode(input, {
      runtime: config.runtime,
      handler: config.handler,
      blobs: this.#d.blobs,
      maxBytes: this.#d.maxCodeBytes,
    });
    return {
      codeSha256: prepared.codeSha256,
      codeSizeBytes: prepared.codeSizeBytes,
      artifactSha256: prepared.artifactSha256,
    };
  }

  /** Builds the stored source again for a new handler or runtime. */
  async #rebuild(base: FunctionVersion, config: FunctionConfig): Promise<CodeFields> {
    const tar = await this.#d.blobs.get(base.codeSha256);
    if (!tar) {
      throw new FaasError(ErrorCode.INTERNAL, `Code blob ${base.codeSha256} of "${base.name}" is missing`);
    }
    return this.#code({ archive: Buffer.from(tar).toString('base64'), format: 'tar' }, config);
  }
}

type CodeFields = Pick<FunctionVersion, 'codeSha256' | 'codeSizeBytes' | 'artifactSha256'>;

function checkName(name: string | undefined): string {
  if (name === undefined) throw validation([{ field: 'name', message: 'is required' }]);
  if (!FUNCTION_NAME_PATTERN.test(name)) {
    throw validation([
      {
        field: 'name',
        message: 'must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
      },
    ]);
  }
  return name;
}
