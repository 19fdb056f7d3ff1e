import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperationMetrics } from './operation-metrics.ts';

/** A backend shaped like the real ones: `#private` state, async and sync methods, a public field. */
class Backend {
  readonly kind = 'fake';
  #rows = new Map<string, number>();

  async put(key: string, value: number): Promise<void> {
    this.#rows.set(key, value);
  }

  async get(key: string): Promise<number | undefined> {
    return this.#rows.get(key);
  }

  size(): number {
    return this.#rows.size;
  }

  async broken(): Promise<never> {
    throw new Error('the disk is full');
  }
}

function count(text: string, name: string, operation: string): number | undefined {
  const series = `${name}_count{operation="${operation}"} `;
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line === undefined ? undefined : Number(line.slice(series.length));
}

describe('OperationMetrics', () => {
  it('times every method of a wrapped store, whose answers and failures pass through unchanged', async () => {
    const metrics = new OperationMetrics();
    const store = metrics.store(new Backend());
    await store.put('a', 1);
    await store.put('b', 2);
    assert.equal(await store.get('a'), 1);
    assert.equal(store.size(), 2);
    assert.equal(store.kind, 'fake');
    assert.ok(store instanceof Backend);
    await assert.rejects(store.broken(), /the disk is full/);

    const text = await metrics.registry.metrics();
    const name = 'faas_store_operation_duration_seconds';
    assert.equal(count(text, name, 'put'), 2);
    assert.equal(count(text, name, 'get'), 1);
    assert.equal(count(text, name, 'size'), 1);
    assert.equal(count(text, name, 'broken'), 1, 'a failed operation is timed too');
  });

  it('keeps the queue apart from the store', async () => {
    const metrics = new OperationMetrics();
    const queue = metrics.queue(new Backend());
    await queue.put('job', 1);
    const text = await metrics.registry.metrics();
    assert.equal(count(text, 'faas_queue_operation_duration_seconds', 'put'), 1);
    assert.equal(count(text, 'faas_store_operation_duration_seconds', 'put'), undefined);
  });
});
