import type { ProjectQuotas, ProjectRecord } from '@faas/core';

/**
 * Each project's quotas as last loaded (with the routes, whenever the store's revision moves, and
 * sent to every gateway thread), so the hot path reads them without the store. A project without
 * quotas has no entry: a map lookup that misses costs the invoke nothing more.
 */
export class ProjectLimits {
  #quotas = new Map<string, ProjectQuotas>();

  replace(projects: ProjectRecord[]): void {
    const quotas = new Map<string, ProjectQuotas>();
    for (const p of projects) if (p.quotas && Object.keys(p.quotas).length > 0) quotas.set(p.name, p.quotas);
    this.#quotas = quotas;
  }

  of(project: string): ProjectQuotas | undefined {
    return this.#quotas.get(project);
  }
}

/** The slot table's key of a project's running sync invocations (no function name holds a NUL). */
export function projectSlotKey(project: string): string {
  return `\0project:${project}`;
}
