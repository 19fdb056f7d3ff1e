// `faas invoke --idempotency-key` without --async: the server keeps no key for a sync invoke, so
// a retry "with the key" would run the function again. Refused before anything is sent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

it('faas invoke --idempotency-key without --async exits 2 and says why', () => {
  // Nothing listens there: reaching for the server would exit 5 (unreachable).
  const run = spawnSync(FAAS, ['invoke', 'fn', '{}', '--idempotency-key', 'k'], {
    env: { ...process.env, FAAS_URL: 'http://127.0.0.1:1' },
    encoding: 'utf8',
    input: '',
  });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /--idempotency-key.*--async/);
});
