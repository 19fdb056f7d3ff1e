import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { clientAddress } from './client-address.ts';

const request = (remoteAddress: string | undefined, forwarded?: string | string[]) =>
  ({
    socket: { remoteAddress },
    headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
  }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('is the TCP peer, whatever X-Forwarded-For claims', () => {
    assert.equal(clientAddress(request('192.0.2.1')), '192.0.2.1');
    assert.equal(clientAddress(request('192.0.2.1', '203.0.113.9')), '192.0.2.1');
  });

  it("over the gateway threads' Unix socket, the last X-Forwarded-For entry (the proxy's own)", () => {
    assert.equal(clientAddress(request(undefined, '203.0.113.9, 192.0.2.1')), '192.0.2.1');
    assert.equal(clientAddress(request(undefined, ['1.1.1.1', '203.0.113.9, ::1'])), '::1');
    assert.equal(clientAddress(request(undefined)), 'unix');
  });
});
