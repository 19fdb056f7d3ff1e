import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { SESSION_COOKIE, sessionCookie } from './session-auth.ts';

/** A Cookie header is the client's to write: any text gives an id or nothing, never a throw. */
describe('sessionCookie (fuzz)', () => {
  it('reads any Cookie header without throwing, and finds the id where it is', async () => {
    assert.equal(sessionCookie(`a=1; ${SESSION_COOKIE}=abc; b=2`), 'abc');
    assert.equal(sessionCookie(`${SESSION_COOKIE}x=abc`), undefined);
    assert.equal(sessionCookie(`${SESSION_COOKIE}=`), undefined);
    await fuzz({
      seeds: [
        Buffer.from(`${SESSION_COOKIE}=abc`),
        Buffer.from(`a=b; ${SESSION_COOKIE}=x;;=;${SESSION_COOKIE}`),
        Buffer.from(`; = ;${SESSION_COOKIE} = v `),
      ],
      run(input) {
        const id = sessionCookie(Buffer.from(input).toString('latin1'));
        if (id !== undefined) assert.ok(id.length > 0 && !id.includes(';'));
      },
    });
  });
});
