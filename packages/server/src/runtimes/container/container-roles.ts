/** The OCI runtime a container runs with: the engine's default, or gVisor. */
export type ContainerIsolation = 'runc' | 'gvisor';

/**
 * What a container the runtime holds is for:
 * - `spare`: a function container started ahead of need, waiting for code (the warm pool);
 * - `loading`: a function container being loaded with a version's code;
 * - `idle`, `busy`: a function container loaded with a version, waiting or running a call;
 * - `sandbox_spare`, `sandbox_busy`: a one-use sandbox (image functions, runInSandbox,
 *   execute), started ahead of need or running its job;
 * - `instance`: an instance's container (running or stopped);
 * - `standby`: a paused restore of a recently used memory snapshot, or one being made.
 */
export type ContainerRole =
  | 'spare'
  | 'loading'
  | 'idle'
  | 'busy'
  | 'sandbox_spare'
  | 'sandbox_busy'
  | 'instance'
  | 'standby';

export const CONTAINER_ROLES: readonly ContainerRole[] = [
  'spare',
  'loading',
  'idle',
  'busy',
  'sandbox_spare',
  'sandbox_busy',
  'instance',
  'standby',
];

export const CONTAINER_ISOLATIONS: readonly ContainerIsolation[] = ['runc', 'gvisor'];

/** Containers counted by isolation and role, every pair present (0 when none). */
export class ContainerTally {
  #counts = new Map<string, number>();

  add(isolation: ContainerIsolation | undefined, role: ContainerRole, count = 1): void {
    if (count === 0) return;
    const key = `${isolation ?? 'runc'}/${role}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + count);
  }

  get(isolation: ContainerIsolation, role: ContainerRole): number {
    return this.#counts.get(`${isolation}/${role}`) ?? 0;
  }

  /** Every isolation × role, so a gauge shows a role going back to 0. */
  *entries(): Generator<{ isolation: ContainerIsolation; role: ContainerRole; count: number }> {
    for (const isolation of CONTAINER_ISOLATIONS) {
      for (const role of CONTAINER_ROLES) yield { isolation, role, count: this.get(isolation, role) };
    }
  }
}
