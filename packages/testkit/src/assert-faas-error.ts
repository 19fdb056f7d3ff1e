import assert from 'node:assert/strict';
import { type ErrorCode, isFaasError } from '@faas/core';

/** Asserts that `promise` rejects with a FaasError of this code; returns the error. */
export async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a FaasError ${code}, but the call succeeded`);
  assert.ok(isFaasError(caught), `expected a FaasError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}
