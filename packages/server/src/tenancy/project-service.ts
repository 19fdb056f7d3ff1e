import {
  type CorsSettings,
  ErrorCode,
  FaasError,
  isHostName,
  isProjectId,
  type MetadataStore,
  type ProjectQuotas,
  type ProjectRecord,
  QUOTA_NAMES,
  type RateLimit,
  validateCors,
} from '@faas/core';

/** Projects (tenants): made by platform admins; every key, function and sandbox lives in one. */
export class ProjectService {
  #store: MetadataStore;
  /** Projects are never deleted, so a name once found stays found. */
  #known = new Set<string>();

  #onChange: ((name: string) => void) | undefined;

  constructor(store: MetadataStore, onChange?: (name: string) => void) {
    this.#store = store;
    this.#onChange = onChange;
  }

  /** @throws FaasError VALIDATION for a name that is not a project id; PROJECT_EXISTS */
  async create(name: string): Promise<ProjectRecord> {
    if (!isProjectId(name)) {
      throw new FaasError(ErrorCode.VALIDATION, `"${name}" is not a valid project name`, {
        details: [
          {
            field: 'name',
            message: 'must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
          },
        ],
      });
    }
    const project: ProjectRecord = { name, createdAt: new Date().toISOString() };
    await this.#store.createProject(project);
    this.#known.add(name);
    return project;
  }

  list(): Promise<ProjectRecord[]> {
    return this.#store.listProjects();
  }

  /**
   * Sets or (undefined) removes a project's rate limit; `onChange` tells the gateway threads.
   * @throws FaasError PROJECT_NOT_FOUND
   */
  async setRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord> {
    const project = await this.#store.setProjectRateLimit(name, rateLimit);
    this.#onChange?.(name);
    return project;
  }

  /**
   * Sets (checked and normalised) or (null) removes a project's CORS settings. The caller refreshes
   * the route table, which reloads projects (the store moved its revision, so other processes
   * catch up on their poll).
   * @throws FaasError VALIDATION (validateCors); PROJECT_NOT_FOUND
   */
  async setCors(name: string, cors: CorsSettings | null): Promise<ProjectRecord> {
    const settings = cors === null ? undefined : validateCors(cors);
    await this.mustExist(name);
    return this.#store.setProjectCors(name, settings);
  }

  /**
   * Gives the project a host name for its declared routes (null: none). The caller refreshes the
   * route table (the store moved its revision, so other processes catch up on their poll).
   * @throws FaasError VALIDATION for a host that is not a lowercase DNS name; PROJECT_NOT_FOUND;
   *   HOST_TAKEN; ROUTE_CONFLICT
   */
  async setHost(name: string, host: string | null): Promise<ProjectRecord> {
    if (host !== null && !isHostName(host)) {
      throw new FaasError(ErrorCode.VALIDATION, `"${host.slice(0, 64)}" is not a host name`, {
        details: [
          {
            field: 'host',
            message: 'must be a lowercase DNS name of two or more labels (a-z, 0-9, "-"), without a port',
          },
        ],
      });
    }
    await this.mustExist(name);
    return this.#store.setProjectHost(name, host ?? undefined);
  }

  /**
   * Changes some of a project's quotas: a number sets one, null takes it away (unlimited); the
   * others stay.
   * @throws FaasError PROJECT_NOT_FOUND
   */
  async setQuotas(
    name: string,
    changes: { [K in keyof ProjectQuotas]?: number | null },
  ): Promise<ProjectRecord> {
    const current = await this.get(name);
    const quotas: ProjectQuotas = { ...current.quotas };
    for (const quota of QUOTA_NAMES) {
      const value = changes[quota];
      if (value === null) delete quotas[quota];
      else if (value !== undefined) quotas[quota] = value;
    }
    return this.#store.setProjectQuotas(name, quotas);
  }

  /** @throws FaasError PROJECT_NOT_FOUND */
  async get(name: string): Promise<ProjectRecord> {
    const project = isProjectId(name) ? await this.#store.getProject(name) : undefined;
    if (!project) {
      throw new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${name}" not found`, { details: { name } });
    }
    return project;
  }

  /** @throws FaasError PROJECT_NOT_FOUND */
  async mustExist(name: string): Promise<void> {
    if (this.#known.has(name)) return;
    if (isProjectId(name) && (await this.#store.getProject(name))) {
      this.#known.add(name);
      return;
    }
    throw new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${name}" not found`, { details: { name } });
  }
}
