import {
  ErrorCode,
  FaasError,
  type FunctionRuntime,
  type Runtime,
  type RuntimeHealth,
  type Runtimes,
  refusedBeforeStart,
} from '@faas/core';

/** The runtimes this process has, and which one serves each kind of function. */
export class RuntimeRegistry implements Runtimes {
  #runtimes: Runtime[];
  #health = new Map<Runtime, RuntimeHealth>();
  #watch: NodeJS.Timeout | undefined;

  constructor(runtimes: Runtime[]) {
    this.#runtimes = runtimes;
  }

  get all(): readonly Runtime[] {
    return this.#runtimes;
  }

  /**
   * The runtime for a function kind.
   * @throws FaasError RUNTIME_UNAVAILABLE when none is configured or its engine is down.
   */
  forFunction(kind: FunctionRuntime): Runtime {
    const runtime = this.#runtimes.find((r) => r.supports(kind));
    // Refusals: nothing was handed to a runtime.
    if (!runtime) {
      throw refusedBeforeStart(
        new FaasError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          `No runtime for "${kind}" functions is available in this server`,
        ),
      );
    }
    const health = this.#health.get(runtime);
    if (health && !health.ready) {
      throw refusedBeforeStart(
        new FaasError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          `The ${runtime.kind} runtime is unavailable: ${health.reason}`,
        ),
      );
    }
    return runtime;
  }

  /** Re-checks each runtime's health (cached for `forFunction`). */
  async refreshHealth(): Promise<Map<string, RuntimeHealth>> {
    const out = new Map<string, RuntimeHealth>();
    await Promise.all(
      this.#runtimes.map(async (r) => {
        let health: RuntimeHealth;
        try {
          health = await r.health();
        } catch (err) {
          health = { ready: false, reason: (err as Error).message };
        }
        this.#health.set(r, health);
        out.set(r.kind, health);
      }),
    );
    return out;
  }

  /**
   * Re-checks health every `intervalMs` from now on, so a runtime whose engine comes up (or goes
   * down) after the server started is served (or refused) without anyone asking /ready.
   */
  watchHealth(intervalMs: number, onError: (err: unknown) => void = () => {}): void {
    if (this.#watch) return;
    let checking = false;
    this.#watch = setInterval(() => {
      if (checking) return;
      checking = true;
      this.refreshHealth()
        .catch(onError)
        .finally(() => {
          checking = false;
        });
    }, intervalMs);
    this.#watch.unref();
  }

  async retire(name: string, version?: number): Promise<void> {
    await Promise.all(this.#runtimes.map((r) => r.retire(name, version)));
  }

  async close(): Promise<void> {
    clearInterval(this.#watch);
    await Promise.allSettled(this.#runtimes.map((r) => r.close()));
  }
}
