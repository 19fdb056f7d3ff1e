import {
  ErrorCode,
  FaasError,
  isProjectId,
  type MetadataStore,
  type ProjectRecord,
  type RateLimit,
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
