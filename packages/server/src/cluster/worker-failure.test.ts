import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClusterNodeRecord, FaasError } from '@faas/core';
import { CONNECT_TIMEOUT, SendFailure } from './node-client.ts';
import { NotStarted, sendFailure, workerError } from './worker-failure.ts';

const node = { id: 'w1', url: 'http://10.0.0.1:8080' } as ClusterNodeRecord;
const context = { what: 'call', deadline: 'by the deadline' };
const withCode = (code: string) => Object.assign(new Error(code), { code });
const live = () => new AbortController().signal;

describe('sendFailure', () => {
  it('a refused or timed-out connection is NotStarted: another worker may take it', () => {
    for (const code of ['ECONNREFUSED', 'EAI_AGAIN', CONNECT_TIMEOUT, 'UND_ERR_CONNECT_TIMEOUT']) {
      // fetch wraps the socket's error in a TypeError's cause.
      const err = sendFailure(
        node,
        new TypeError('fetch failed', { cause: withCode(code) }),
        live(),
        context,
      );
      assert.ok(err instanceof NotStarted, code);
      assert.equal(err.reason.code, 'FAAS_ERR_WORKER_LOST');
      assert.match(err.message, new RegExp(`could not be reached \\(${code}\\)`));
    }
  });

  it('once a connection was made the request may have run: WORKER_LOST, never a retry', () => {
    const viaClient = sendFailure(node, new SendFailure(withCode('ECONNREFUSED'), true), live(), context);
    assert.ok(viaClient instanceof FaasError);
    assert.equal(viaClient.code, 'FAAS_ERR_WORKER_LOST');
    const viaFetch = sendFailure(node, withCode('ECONNRESET'), live(), { ...context, connected: true });
    assert.ok(viaFetch instanceof FaasError);
    assert.match(viaFetch.message, /went away during the call \(ECONNRESET\)/);
  });

  it("the caller's own abort is the caller's error; the deadline's is the worker's", () => {
    const gone = new AbortController();
    const reason = new Error('client went away');
    gone.abort(reason);
    assert.equal(sendFailure(node, withCode('ECONNRESET'), gone.signal, context), reason);
    const late = AbortSignal.abort(new DOMException('timed out', 'TimeoutError'));
    const err = sendFailure(node, withCode('ABORT_ERR'), late, context);
    assert.ok(err instanceof FaasError);
    assert.equal(err.message, 'Worker w1 did not answer by the deadline');
  });
  it("names the worker by its id only: its internal address is in no error a caller sees (or is recorded), only in the server's log", () => {
    const logged: string[] = [];
    const log = (message: string) => logged.push(message);
    const deadline = AbortSignal.abort(new DOMException('timed out', 'TimeoutError'));
    for (const err of [
      sendFailure(node, withCode('ECONNREFUSED'), live(), { ...context, log }),
      sendFailure(node, withCode('ECONNRESET'), live(), { ...context, connected: true, log }),
      sendFailure(node, withCode('ABORT_ERR'), deadline, { ...context, log }),
    ]) {
      const seen = err instanceof NotStarted ? err.reason : (err as FaasError);
      const body = JSON.stringify(seen.toJSON());
      assert.match(body, /w1/);
      assert.doesNotMatch(body, /10\.0\.0\.1/, body);
    }
    assert.equal(logged.length, 3);
    for (const line of logged) assert.match(line, /w1 at http:\/\/10\.0\.0\.1:8080/);
  });
});

describe('workerError', () => {
  it("keeps a worker's error with a known code, and refuses codes it does not know", () => {
    const known = workerError(node, 404, {
      error: { code: 'FAAS_ERR_FUNCTION_NOT_FOUND', message: 'no', details: 1 },
    });
    assert.equal(known.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
    assert.deepEqual(known.details, 1);
    for (const body of [
      undefined,
      'text',
      { error: { code: 'FAAS_ERR_MADE_UP' } },
      { error: { code: 'toString' } },
    ]) {
      assert.equal(workerError(node, 500, body).code, 'FAAS_ERR_WORKER_LOST');
    }
  });
});
