import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_STATUS, ErrorCode, FaasError } from './errors.ts';

describe('error codes', () => {
  it('are all documented in docs/errors.md with their status', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const row = (code: string) =>
      new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${ERROR_STATUS[code as ErrorCode]}\\s*\\|`);
    const missing = Object.values(ErrorCode).filter((code) => !row(code).test(doc));
    assert.deepEqual(missing, []);
  });

  it('serialise to the one error body', () => {
    const err = new FaasError(ErrorCode.FUNCTION_NOT_FOUND, 'nope', { details: { name: 'x' } });
    assert.equal(err.status, 404);
    assert.deepEqual(err.toJSON(), {
      error: { code: 'FAAS_ERR_FUNCTION_NOT_FOUND', message: 'nope', details: { name: 'x' } },
    });
  });
});
