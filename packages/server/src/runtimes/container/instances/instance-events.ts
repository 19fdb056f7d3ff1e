/** What an instance's stream carries (seed 003's event types, plus `state` and `error`). */
export type InstanceEvent =
  | { type: 'stdout' | 'stderr'; data: string; process: number; pid?: number }
  | { type: 'exit'; code: number; process: number; pid?: number }
  | { type: 'file_event'; path: string; event: 'created' | 'modified' | 'deleted' }
  | {
      type: 'process_event';
      event: 'start' | 'exit';
      process: number;
      pid?: number;
      command: string;
      code?: number;
    }
  | { type: 'custom'; name: string; data: unknown }
  | { type: 'state'; state: string; [key: string]: unknown }
  | { type: 'heartbeat' }
  | { type: 'error'; error: { code: string; message: string } }
  | { type: string; [key: string]: unknown };

/** An event as published: numbered in order per instance. */
export type SequencedEvent = InstanceEvent & { seq: number; time: number };

/**
 * Fans an instance's events out to its watchers, in order. Delivery is synchronous and never
 * waits: a transport that cannot keep up must drop its own client (see the stream routes).
 */
export class InstanceEventHub {
  #listeners = new Set<(event: SequencedEvent) => void>();
  #seq = 0;

  publish(event: InstanceEvent): void {
    if (this.#listeners.size === 0) {
      this.#seq += 1;
      return;
    }
    const sequenced = { ...event, seq: ++this.#seq, time: Date.now() } as SequencedEvent;
    for (const listener of this.#listeners) {
      try {
        listener(sequenced);
      } catch {
        // One broken watcher must not keep the others from their events.
      }
    }
  }

  subscribe(listener: (event: SequencedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get watchers(): number {
    return this.#listeners.size;
  }
}
