import type { MetadataStore, RateLimit } from '@faas/core';

/** How long a project's limit is trusted before it is read again (another server may have changed it). */
export const PROJECT_LIMIT_TTL_MS = 5_000;

interface Known {
  limit: RateLimit | undefined;
  untilMs: number;
  refreshing: boolean;
}

/**
 * Projects' rate limits as an invoking request needs them: at once from memory. A project not
 * read yet is read once (the request waits for it); one read more than PROJECT_LIMIT_TTL_MS ago
 * is answered as known and read again in the background, so a change made through another server
 * holds within that time; a change made through this one is taken in at once (`forget`, from
 * the change feed).
 */
export class ProjectRateLimits {
  #store: Pick<MetadataStore, 'getProject'>;
  #known = new Map<string, Known>();
  #now: () => number;

  constructor(store: Pick<MetadataStore, 'getProject'>, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
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

  async #read(project: string): Promise<RateLimit | undefined> {
    const limit = (await this.#store.getProject(project))?.rateLimit;
    this.#known.set(project, { limit, untilMs: this.#now() + PROJECT_LIMIT_TTL_MS, refreshing: false });
    return limit;
  }
}
