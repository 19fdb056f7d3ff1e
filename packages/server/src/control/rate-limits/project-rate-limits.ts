import type { MetadataStore, ProjectRecord, RateLimit } from '@faas/core';

/**
 * How long a project's limit is trusted before it is read again, by default: the backstop for
 * another server's change when its announcement (`replace`, with the projects reloaded on
 * PostgreSQL's NOTIFY) is missed. A server passes FAAS_ROUTE_SYNC_MS.
 */
export const PROJECT_LIMIT_TTL_MS = 5_000;

interface Known {
  limit: RateLimit | undefined;
  untilMs: number;
  refreshing: boolean;
}

/**
 * Projects' rate limits as an invoking request needs them: at once from memory. A project not
 * read yet is read once (the request waits for it); one read more than PROJECT_LIMIT_TTL_MS ago
 * is answered as known and read again in the background. A change made through this server is
 * taken in at once (`forget`, from the change feed), one made through another as soon as this
 * one reloads the projects (`replace`, when the store's revision moves), else within the TTL.
 */
export class ProjectRateLimits {
  #store: Pick<MetadataStore, 'getProject'>;
  #known = new Map<string, Known>();
  #now: () => number;
  #ttlMs: number;

  constructor(
    store: Pick<MetadataStore, 'getProject'>,
    now: () => number = Date.now,
    ttlMs = PROJECT_LIMIT_TTL_MS,
  ) {
    this.#store = store;
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  get(project: string): RateLimit | undefined | Promise<RateLimit | undefined> {
    const known = this.#known.get(project);
    if (!known) return this.#read(project);
    if (known.untilMs <= this.#now() && !known.refreshing) {
      known.refreshing = true;
      this.#read(project).catch(() => {
        known.refreshing = false;
      });
    }
    return known.limit;
  }

  forget(project: string): void {
    this.#known.delete(project);
  }

  /** Every project's limit as just read from the store (a project not listed is read on use). */
  replace(projects: readonly ProjectRecord[]): void {
    const untilMs = this.#now() + this.#ttlMs;
    this.#known.clear();
    for (const p of projects) this.#known.set(p.name, { limit: p.rateLimit, untilMs, refreshing: false });
  }

  async #read(project: string): Promise<RateLimit | undefined> {
    const limit = (await this.#store.getProject(project))?.rateLimit;
    this.#known.set(project, { limit, untilMs: this.#now() + this.#ttlMs, refreshing: false });
    return limit;
  }
}
