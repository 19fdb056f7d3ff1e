import type { NodeLoad } from '@faas/core';

/**
 * Seed 000's load score: `α×CPU + β×MEM + γ×IO`, each part 0–100 and smoothed by an exponential
 * moving average so that one busy second does not send every call elsewhere. CPU weighs most
 * because container functions are mostly CPU-bound; memory next because running out of it
 * kills containers; I/O pressure last.
 */
export const LOAD_WEIGHTS = { cpu: 0.5, memory: 0.3, io: 0.2 } as const;
/** Weight of the newest sample in the average: with one sample a second, a spike fades in about 5 s. */
export const LOAD_EMA_ALPHA = 0.3;

export interface LoadSample {
  cpu: number;
  memory: number;
  io: number;
}

/** The smoothed load of one node, fed one sample per heartbeat. */
export class LoadScore {
  #ema: LoadSample | undefined;

  update(sample: LoadSample): NodeLoad {
    const clamp = (n: number) => (Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : 0);
    const next = { cpu: clamp(sample.cpu), memory: clamp(sample.memory), io: clamp(sample.io) };
    const prev = this.#ema;
    this.#ema = prev
      ? {
          cpu: prev.cpu + LOAD_EMA_ALPHA * (next.cpu - prev.cpu),
          memory: prev.memory + LOAD_EMA_ALPHA * (next.memory - prev.memory),
          io: prev.io + LOAD_EMA_ALPHA * (next.io - prev.io),
        }
      : next;
    return this.current();
  }

  current(): NodeLoad {
    const { cpu, memory, io } = this.#ema ?? { cpu: 0, memory: 0, io: 0 };
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      cpu: round(cpu),
      memory: round(memory),
      io: round(io),
      score: round(cpu * LOAD_WEIGHTS.cpu + memory * LOAD_WEIGHTS.memory + io * LOAD_WEIGHTS.io),
    };
  }
}
