import type { FunctionVersion, ProjectRecord, RouteRecord } from '@faas/core';

/** What other gateway threads must hear of before this one answers the request that made it (catalog, routes, keys). */
export type PlatformChange =
  | { kind: 'latest'; version: FunctionVersion }
  | { kind: 'invalidate'; name?: string }
  | { kind: 'forget'; name: string }
  | { kind: 'routes'; routes: RouteRecord[] }
  | { kind: 'projects'; projects: ProjectRecord[] }
  // A key revoked or changed: its cached record is stale.
  | { kind: 'key'; id: string }
  // Another process changed the store: any cached key may be revoked or changed.
  | { kind: 'keys' }
  | { kind: 'project'; name: string };

/** Synchronous fan-out of PlatformChanges: listeners run before `publish` returns. */
export class ChangeFeed {
  #listeners = new Set<(change: PlatformChange) => void>();

  readonly publish = (change: PlatformChange): void => {
    for (const listener of this.#listeners) listener(change);
  };

  subscribe(listener: (change: PlatformChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
