import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactJson, redactOutcome, redactorOf } from './secret-redactor.ts';

describe('redactorOf', () => {
  it('hides each value and its base64, longest first, and leaves very short values alone', () => {
    const redact = redactorOf(['s3cr3t-value', 's3cr3t', 'ab']);
    assert.equal(redact('a s3cr3t-value b s3cr3t ab'), 'a [secret] b [secret] ab');
    assert.equal(redact(`x${Buffer.from('s3cr3t-value').toString('base64')}x`), 'x[secret]x');
    assert.equal(redactorOf([])('unchanged'), 'unchanged');
  });

  it('hides values in every string of a JSON value and in an error, not in bytes', () => {
    const redact = redactorOf(['topsecret']);
    assert.deepEqual(redactJson({ a: ['topsecret!', 1, null], topsecret: true }, redact), {
      a: ['[secret]!', 1, null],
      '[secret]': true,
    });
    const bytes = new Uint8Array([1, 2, 3]);
    assert.equal(redactJson(bytes, redact), bytes);
    const failed = redactOutcome(
      {
        status: 'failed',
        error: { type: 'Error', message: 'bad topsecret', stack: 'Error: bad topsecret\n at x' },
        metrics: { durationMs: 1 },
      },
      redact,
    );
    assert.ok(failed.status === 'failed');
    assert.equal(failed.error.message, 'bad [secret]');
    assert.equal(failed.error.stack, 'Error: bad [secret]\n at x');
  });
});
