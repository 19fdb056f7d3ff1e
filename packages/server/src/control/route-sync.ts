import type { MetadataStore, ProjectRecord, RouteRecord } from '@faas/core';
import type { FunctionCatalog } from './function-catalog.ts';
import { RouteTable } from './route-table.ts';

/**
 * Keeps the in-memory route table (and the catalog's idea of `latest`) in step with the store.
 * This process refreshes right after its own writes; a poll of the store's revision catches
 * writes by other gateway processes (seed 000's timestamp sync).
 */
export class RouteSync {
  readonly table = new RouteTable();
  #store: MetadataStore;
  #catalog: FunctionCatalog;
  #revision = -1;
  #timer: NodeJS.Timeout | undefined;
  #last: Promise<void> = Promise.resolve();
  #onReplace: (routes: RouteRecord[]) => void;
  #onProjects: (projects: ProjectRecord[]) => void;
  #onMoved: () => void;
  #unwatch: (() => void) | undefined;

  /**
   * `onReplace` gets every new table's routes, for the other gateway threads' tables;
   * `onProjects` the projects (their hosts, quotas and rate limits move the same revision) with
   * each load; `onMoved` hears that another process moved the revision (API keys move it too).
   */
  constructor(
    store: MetadataStore,
    catalog: FunctionCatalog,
    onReplace: (routes: RouteRecord[]) => void = () => {},
    onProjects: (projects: ProjectRecord[]) => void = () => {},
    onMoved: () => void = () => {},
  ) {
    this.#store = store;
    this.#catalog = catalog;
    this.#onReplace = onReplace;
    this.#onProjects = onProjects;
    this.#onMoved = onMoved;
  }

  /**
   * Polls every `intervalMs`; with a store that announces changes (PostgreSQL's NOTIFY), also as
   * soon as another process changes functions or routes, the poll staying as the backstop.
   */
  start(intervalMs: number, onError: (err: unknown) => void): void {
    this.#timer = setInterval(() => {
      this.poll().catch(onError);
    }, intervalMs);
    this.#timer.unref();
    this.#unwatch = this.#store.watchRoutesRevision?.(() => {
      this.poll().catch(onError);
    });
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#unwatch?.();
  }

  /** Reloads when the store's revision moved since the last load. */
  async poll(): Promise<void> {
    // A load under way (after this process's own write) first: its revision may be the new one.
    await this.#last;
    const revision = await this.#store.routesRevision();
    if (revision === this.#revision) return;
    this.#onMoved();
    this.#catalog.invalidate();
    await this.refresh();
  }

  /** Reloads the table now. Loads run one after another, so the last one sees the newest writes. */
  refresh(): Promise<void> {
    const load = async () => {
      const revision = await this.#store.routesRevision();
      const routes = await this.#store.listRoutes();
      const projects = await this.#store.listProjects();
      this.table.replace(routes);
      this.#revision = revision;
      this.#onReplace(routes);
      this.#onProjects(projects);
    };
    const next = this.#last.then(load, load);
    this.#last = next.catch(() => undefined);
    return next;
  }
}
