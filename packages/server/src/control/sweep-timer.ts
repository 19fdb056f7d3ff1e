/**
 * Runs a background sweep (retention, blob collection) after `firstMs`, then `intervalMs` after
 * each run ends, so two never overlap. Its timer does not keep the process alive. A sweep checks
 * `stopped` between its batches; `stop` waits for the run under way.
 */
export class SweepTimer {
  #sweep: () => Promise<unknown>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = false;

  /** @param sweep must not reject: it logs its own failures. */
  constructor(sweep: () => Promise<unknown>) {
    this.#sweep = sweep;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(firstMs: number, intervalMs: number): void {
    if (this.#timer || this.#stopped) return;
    const run = (delayMs: number) => {
      this.#timer = setTimeout(() => {
        this.#running = this.#sweep().finally(() => {
          if (!this.#stopped) run(intervalMs);
        });
      }, delayMs);
      this.#timer.unref();
    };
    run(firstMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
