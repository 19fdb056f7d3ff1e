import {
  type BlobStore,
  type CodeInput,
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type FunctionConfig,
  type FunctionInput,
  type FunctionRecord,
  type FunctionVersion,
  inScope,
  isoTimestamp,
  type MetadataStore,
  type NewFunctionVersion,
  type Page,
  type PageRequest,
  type RouteSpec,
  type Runtimes,
  routesOverlap,
  shownName,
  shownRecord,
  shownVersion,
  splitStoredName,
  storedName,
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
import type { SecretService } from './secret-service.ts';

export interface FunctionServiceDeps {
  store: MetadataStore;
  blobs: BlobStore;
  catalog: FunctionCatalog;
  routes: RouteSync;
  runtimes: Runtimes;
  /** Largest uncompressed code accepted. */
  maxCodeBytes: number;
  logger?: Pick<Console, 'warn'>;
  /** The operator's caps on memoryMb and maxConcurrency. @default the API's own limits */
  caps?: FunctionCaps;
  /** Reveals the secrets a version names, for its preparation (and refuses names not set). */
  secrets?: Pick<SecretService, 'reveal'>;
}

export type DeployResult = { record: FunctionRecord; outcome: 'created' | 'updated' | 'unchanged' };

export interface DeployOptions extends Scoped {
  /** Hears the slow steps of preparing a container version (image build, dependency install). */
  onProgress?: (message: string) => void;
  /** The functions the caller's key reaches (a key narrowed to them). Absent: all. */
  reach?: readonly string[];
  /** Whether the caller may invoke the function: only then may it make it public. @default true */
  mayInvoke?: boolean;
}

/**
 * A call made for one project: names are the project's (two projects may each have `hello`),
 * and another project's functions are not found.
 */
export interface Scoped {
  /** The project whose functions are visible; undefined: every project's. */
  scope?: string | undefined;
  /** The project the call acts in: names are looked up and new functions made there. @default scope, else DEFAULT_PROJECT */
  project?: string | undefined;
}

/** The project a call acts in. */
function projectIn(options: Scoped): string {
  return options.project ?? options.scope ?? DEFAULT_PROJECT;
}

/**
 * Functions and their versions: every change of code or config makes a new immutable version.
 * A version is stored only once it can run: its code builds (js/ts) or its container runtime has
 * prepared it (image present, dependencies installed, handler loaded). A refused deploy leaves
 * the store, `latest` and the routes as they were.
 */
export class FunctionService {
  #d: FunctionServiceDeps;
  /** Deploys of one name run one at a time in this process: a candidate version's number is theirs. */
  #deploying = new Map<string, Promise<unknown>>();

  constructor(deps: FunctionServiceDeps) {
    this.#d = deps;
  }

  /** Answers the record as the project knows it (`shownRecord`), as every method here does. */
  async create(input: FunctionInput, options: DeployOptions = {}): Promise<FunctionRecord> {
    const name = storedName(projectIn(options), checkName(input.name));
    return shownRecord(await this.#oneAtATime(name, () => this.#create(name, input, options)));
  }

  /** Create-or-replace: the whole function is given. Identical code and config make no version. */
  async put(shown: string, input: FunctionInput, options: DeployOptions = {}): Promise<DeployResult> {
    checkName(shown);
    if (input.name !== undefined && input.name !== shown) {
      throw validation([{ field: 'name', message: `must match the path ("${shown}") when given` }]);
    }
    const name = storedName(projectIn(options), shown);
    return shownResult(await this.#oneAtATime(name, () => this.#put(name, input, options)));
  }

  async #create(name: string, input: FunctionInput, options: DeployOptions): Promise<FunctionRecord> {
    const config = resolveConfig(input, undefined, this.#d.caps);
    const code = await this.#code(input.code, config);
    // Checked before preparing: a candidate version 1 must not share the warm pool of a real one.
    if (await this.#d.store.getFunction(name)) {
      throw new FaasError(ErrorCode.FUNCTION_EXISTS, `Function "${shownName(name)}" already exists`);
    }
    const project = projectIn(options);
    await this.#assertRoutesInReach(name, config.routes, project, options.reach);
    if (config.public) assertMayPublish(options);
    const candidate = { ...versionOf(name, 1, config, code.fields), project };
    await this.#prepare(candidate, code, options);
    const record = await this.#retiredOnFailure(candidate, () =>
      this.#d.store.createFunction({
        name,
        ...config,
        ...code.fields,
        project,
        createdAt: candidate.createdAt,
      }),
    );
    await this.#changed(record);
    return record;
  }

  async #put(name: string, input: FunctionInput, options: DeployOptions): Promise<DeployResult> {
    const current = await this.#d.store.getFunction(name);
    if (current && !inScope(options.scope, current.latest.project)) {
      // Not reachable while stored names carry their project; kept so a slip cannot leak.
      throw notFound(shownName(name));
    }
    if (!current) {
      try {
        return {
          record: await this.#create(name, { ...input, name: shownName(name) }, options),
          outcome: 'created',
        };
      } catch (err) {
        // Lost a race with a concurrent create of the same name (another process): replace it instead.
        if (!(err instanceof FaasError && err.code === ErrorCode.FUNCTION_EXISTS)) throw err;
        return this.#put(name, input, options);
      }
    }
    const config = resolveConfig(input, undefined, this.#d.caps);
    const code = await this.#code(input.code, config);
    return this.#addVersion(current, config, code, options);
  }

  /** Changes some fields; code is kept unless given (and rebuilt when the handler or runtime moved). */
  async patch(shown: string, input: FunctionInput, options: DeployOptions = {}): Promise<DeployResult> {
    if (input.name !== undefined && input.name !== shown) {
      throw validation([{ field: 'name', message: 'cannot be changed; create a new function instead' }]);
    }
    const name = storedName(projectIn(options), shown);
    return shownResult(await this.#oneAtATime(name, () => this.#patch(name, input, options)));
  }

  async #patch(name: string, input: FunctionInput, options: DeployOptions): Promise<DeployResult> {
    const current = await this.#get(name, options.scope);
    const base = current.latest;
    const config = resolveConfig(input, base, this.#d.caps);
    let code: Code;
    if (input.code !== undefined) {
      code = await this.#code(input.code, config);
    } else if (config.handler !== base.handler || config.runtime !== base.runtime) {
      code = await this.#rebuild(base, config);
    } else {
      const { codeSha256, codeSizeBytes, artifactSha256 } = base;
      code = { fields: { codeSha256, codeSizeBytes, artifactSha256 }, stored: Promise.resolve() };
    }
    return this.#addVersion(current, config, code, options);
  }

  async get(shown: string, options: Scoped = {}): Promise<FunctionRecord> {
    return shownRecord(await this.#get(storedName(projectIn(options), shown), options.scope));
  }

  /** @param name the stored name */
  async #get(name: string, scope: string | undefined): Promise<FunctionRecord> {
    const record = await this.#d.store.getFunction(name);
    if (!record || !inScope(scope, record.latest.project)) throw notFound(shownName(name));
    return record;
  }

  /** @param only names in the call's project (a key's function list): the others are not listed. */
  async list(
    page: PageRequest,
    options: Scoped = {},
    only?: readonly string[],
  ): Promise<Page<FunctionRecord>> {
    const project = projectIn(options);
    const names = only?.map((name) => storedName(project, name));
    const found = await this.#d.store.listFunctions(page, options.scope, names);
    return { ...found, items: found.items.map(shownRecord) };
  }

  async versions(shown: string, page: PageRequest, options: Scoped = {}): Promise<Page<FunctionVersion>> {
    const name = storedName(projectIn(options), shown);
    await this.#get(name, options.scope);
    const found = await this.#d.store.listVersions(name, page);
    return { ...found, items: found.items.map(shownVersion) };
  }

  async version(shown: string, version: number, options: Scoped = {}): Promise<FunctionVersion> {
    const name = storedName(projectIn(options), shown);
    // The function first: another project's is not found, whatever version is asked for.
    await this.#get(name, options.scope);
    return shownVersion(await this.#d.catalog.resolve(name, version));
  }

  /**
   * A version's source as deployed: the canonical tar its codeSha256 names (what a rollback
   * deploys again, and what the console's editor opens).
   * @throws FaasError FUNCTION_NOT_FOUND / VERSION_NOT_FOUND as `version` does
   */
  async sourceArchive(name: string, version: number, options: Scoped = {}): Promise<Uint8Array> {
    const found = await this.version(name, version, options);
    const tar = await this.#d.blobs.get(found.codeSha256);
    if (!tar) {
      throw new FaasError(ErrorCode.INTERNAL, `Code blob ${found.codeSha256} of "${name}" is missing`);
    }
    return tar;
  }

  async delete(shown: string, options: Scoped = {}): Promise<void> {
    const name = storedName(projectIn(options), shown);
    await this.#oneAtATime(name, async () => {
      await this.#get(name, options.scope);
      if (!(await this.#d.store.deleteFunction(name))) throw notFound(shown);
      this.#d.catalog.forget(name);
      await this.#d.routes.refresh();
      await this.#d.runtimes.retire(name);
    });
  }

  /**
   * A key narrowed to some functions declares no route that overlaps a route of a function of its
   * project it does not reach: the more specific route would take that function's callers'
   * requests, and the keys they send with them.
   */
  async #assertRoutesInReach(
    name: string,
    routes: readonly RouteSpec[],
    project: string,
    reach: readonly string[] | undefined,
  ): Promise<void> {
    if (!reach || routes.length === 0) return;
    const beyond = (await this.#d.store.listRoutes()).filter(
      (r) =>
        r.functionName !== name &&
        (splitStoredName(r.functionName)?.project ?? DEFAULT_PROJECT) === project &&
        !reach.includes(shownName(r.functionName)),
    );
    const route = routes.find((mine) => beyond.some((other) => routesOverlap(mine, other)));
    if (route) {
      throw new FaasError(
        ErrorCode.FORBIDDEN,
        `Route ${route.method} ${route.path} would match requests of a function this key does not reach`,
        { details: { route: { method: route.method, path: route.path } } },
      );
    }
  }

  async #addVersion(
    current: FunctionRecord,
    config: FunctionConfig,
    code: Code,
    options: DeployOptions,
  ): Promise<DeployResult> {
    const latest = current.latest;
    if (
      sameConfig(config, latest) &&
      code.fields.codeSha256 === latest.codeSha256 &&
      code.fields.artifactSha256 === latest.artifactSha256
    ) {
      await code.stored;
      return { record: current, outcome: 'unchanged' };
    }
    // A version stays in its function's project, whoever (a platform admin) makes it.
    const project = latest.project ?? DEFAULT_PROJECT;
    const added = config.routes.filter(
      (r) => !latest.routes.some((l) => l.method === r.method && l.path === r.path),
    );
    await this.#assertRoutesInReach(current.name, added, project, options.reach);
    if (config.public && !latest.public) assertMayPublish(options);
    const candidate = { ...versionOf(current.name, current.latestVersion + 1, config, code.fields), project };
    await this.#prepare(candidate, code, options);
    const input: NewFunctionVersion = {
      name: current.name,
      ...config,
      ...code.fields,
      project,
      createdAt: candidate.createdAt,
    };
    const record = await this.#retiredOnFailure(candidate, () =>
      this.#d.store.addVersion(input, current.latestVersion),
    );
    await this.#changed(record);
    // The old version's warm instances drain: in-flight calls finish, new calls go to the new one.
    await this.#d.runtimes.retire(current.name, latest.version);
    return { record, outcome: 'updated' };
  }

  async #changed(record: FunctionRecord): Promise<void> {
    this.#d.catalog.setLatest(record.latest);
    await this.#d.routes.refresh();
  }

  /**
   * Versions are prepared before they are stored (image, dependencies, a loaded warm container,
   * or for js/ts the bundle `prepareCode` built, run in an isolate), so code that cannot run
   * (a top-level throw, a handler that is not a function) is refused at deploy, not at every call.
   * @throws FaasError RUNTIME_UNAVAILABLE (no engine), COMPILE_ERROR, VALIDATION.
   */
  async #prepare(candidate: FunctionVersion, code: Code, options: DeployOptions): Promise<void> {
    // Every secret named must exist in the project (SECRET_MISSING otherwise); a warm container
    // made here holds their values as env, as one made at invoke would. The version keeps names.
    const revealed =
      candidate.secrets && this.#d.secrets
        ? (await this.#d.secrets.reveal(candidate, candidate.project ?? DEFAULT_PROJECT)).fn
        : candidate;
    const runtime = this.#d.runtimes.forFunction(candidate.runtime);
    const progress = options.onProgress ? { onProgress: options.onProgress } : {};
    if (!code.artifact || runtime.kind !== 'isolate') {
      await code.stored;
      await runtime.prepare(revealed, progress);
      return;
    }
    // An isolate loads the artifact only, and the deploy holds its bytes: the load runs beside the
    // blob writes, not after them (3.2 and 3.7 ms of a 14 ms deploy of a small function).
    await runtime.prepare(revealed, { ...progress, artifact: { bytes: code.artifact, stored: code.stored } });
    await this.#retiredOnFailure(candidate, () => code.stored);
  }

  /** A step after a candidate was prepared (its writes, storing it): when it fails, the candidate's warm instances go. */
  async #retiredOnFailure<T>(candidate: FunctionVersion, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      await this.#d.runtimes.retire(candidate.name, candidate.version).catch(() => {});
      throw err;
    }
  }

  #oneAtATime<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#deploying.get(name) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => {});
    this.#deploying.set(name, settled);
    void settled.then(() => {
      if (this.#deploying.get(name) === settled) this.#deploying.delete(name);
    });
    return run;
  }

  async #code(input: CodeInput | undefined, config: FunctionConfig): Promise<Code> {
    if (input === undefined && config.runtime !== 'image') {
      throw validation([{ field: 'code', message: 'is required' }]);
    }
    const prepared = await prepareCode(input, {
      runtime: config.runtime,
      handler: config.handler,
      blobs: this.#d.blobs,
      maxBytes: this.#d.maxCodeBytes,
    });
    const { codeSha256, codeSizeBytes, artifactSha256, artifact, stored } = prepared;
    return {
      fields: { codeSha256, codeSizeBytes, artifactSha256 },
      ...(artifact ? { artifact } : {}),
      stored,
    };
  }

  /** Builds the stored source again for a new handler or runtime. */
  async #rebuild(base: FunctionVersion, config: FunctionConfig): Promise<Code> {
    const tar = await this.#d.blobs.get(base.codeSha256);
    if (!tar) {
      throw new FaasError(ErrorCode.INTERNAL, `Code blob ${base.codeSha256} of "${base.name}" is missing`);
    }
    return this.#code({ archive: Buffer.from(tar).toString('base64'), format: 'tar' }, config);
  }
}

function shownResult(result: DeployResult): DeployResult {
  return { ...result, record: shownRecord(result.record) };
}

type CodeFields = Pick<FunctionVersion, 'codeSha256' | 'codeSizeBytes' | 'artifactSha256'>;

/** A deploy's code: the fields its version stores, and its blobs' writes (PreparedCode). */
interface Code {
  fields: CodeFields;
  artifact?: Uint8Array;
  stored: Promise<void>;
}

/** The version a deploy would store, numbered as the store will number it. */
function versionOf(name: string, version: number, config: FunctionConfig, code: CodeFields): FunctionVersion {
  return { name, version, ...config, ...code, createdAt: isoTimestamp() };
}

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

/**
 * A public function answers anyone: making one is invoking it for everyone, so a key that may
 * deploy but not invoke (`functions:invoke`) does not.
 */
function assertMayPublish(options: DeployOptions): void {
  if (options.mayInvoke === false)
    throw new FaasError(ErrorCode.FORBIDDEN, 'Making a function public needs the scope functions:invoke', {
      details: { scope: 'functions:invoke' },
    });
}
