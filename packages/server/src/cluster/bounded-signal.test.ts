import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundedSignal } from './bounded-signal.ts';

describe('boundedSignal', () => {
  it("aborts with the outer signal's reason", () => {
    const outer = new AbortController();
    const { signal, release } = boundedSignal(outer.signal, 60_000);
    const reason = new Error('client went away');
    outer.abort(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
    release();
  });

  it('is aborted at once when the outer signal already is', () => {
    const reason = new Error('gone');
    const { signal, release } = boundedSignal(AbortSignal.abort(reason), 60_000);
    assert.equal(signal.reason, reason);
    release();
  });

  it('times out with a TimeoutError, as AbortSignal.timeout does', async () => {
    const { signal, release } = boundedSignal(undefined, 5);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    assert.equal((signal.reason as Error).name, 'TimeoutError');
    release();
  });

  it('once released, neither the outer signal nor the time aborts it', async () => {
    const outer = new AbortController();
    const { signal, release } = boundedSignal(outer.signal, 5);
    release();
    outer.abort(new Error('later'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(signal.aborted, false);
  });
});
