import type { ProjectRecord } from '@faas/core';
import { CorsPolicy } from './cors-policy.ts';

/**
 * Each project's CORS settings as last loaded (with the routes, whenever the store's revision
 * moves, and sent to every gateway thread), so requests read them without the store. While no
 * project has any, `active` is false and no request looks further: the default costs a field read.
 */
export class ProjectCors {
  #byProject = new Map<string, CorsPolicy>();
  /** Policies by the origins they list, and those that allow any: /api/v1 preflights look here. */
  #byOrigin = new Map<string, CorsPolicy[]>();
  #anyOrigin: CorsPolicy[] = [];
  active = false;

  replace(projects: ProjectRecord[]): void {
    const byProject = new Map<string, CorsPolicy>();
    const byOrigin = new Map<string, CorsPolicy[]>();
    const anyOrigin: CorsPolicy[] = [];
    for (const project of projects) {
      if (!project.cors) continue;
      const policy = new CorsPolicy(project.cors);
      byProject.set(project.name, policy);
      for (const origin of project.cors.allowOrigins) {
        if (origin === '*') anyOrigin.push(policy);
        else byOrigin.set(origin, [...(byOrigin.get(origin) ?? []), policy]);
      }
    }
    this.#byProject = byProject;
    this.#byOrigin = byOrigin;
    this.#anyOrigin = anyOrigin;
    this.active = byProject.size > 0;
  }

  /** The project's policy; undefined: it has no CORS settings (no CORS headers). */
  of(project: string): CorsPolicy | undefined {
    return this.#byProject.get(project);
  }

  /** The policies of every project that allows `origin`. */
  allowing(origin: string): CorsPolicy[] {
    const listed = this.#byOrigin.get(origin);
    if (!listed) return this.#anyOrigin;
    return this.#anyOrigin.length === 0 ? listed : [...listed, ...this.#anyOrigin];
  }
}
