import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { clientAddress, trustProxies } from './client-address.ts';

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

  describe('behind trusted proxies (FAAS_TRUSTED_PROXIES)', () => {
    afterEach(() => trustProxies([]));

    it('walks X-Forwarded-For back past trusted proxies to the first address that is not one', () => {
      trustProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
      // An Ingress pod (10.1.2.3) in front: each client is itself again.
      assert.equal(clientAddress(request('10.1.2.3', '203.0.113.9')), '203.0.113.9');
      assert.equal(clientAddress(request('10.1.2.3', '198.51.100.4')), '198.51.100.4');
      // A chain of trusted proxies; what the client wrote before them is never read.
      assert.equal(clientAddress(request('10.1.2.3', '6.6.6.6, 203.0.113.9, 192.0.2.7')), '203.0.113.9');
      assert.equal(clientAddress(request('::ffff:10.1.2.3', '203.0.113.9')), '203.0.113.9');
      assert.equal(clientAddress(request('fd00::1', '2001:db8::5')), '2001:db8::5');
      // Through the gateway threads' hop: the main thread appended the TCP peer.
      assert.equal(clientAddress(request(undefined, '203.0.113.9, 10.1.2.3')), '203.0.113.9');
    });

    it('believes nothing from a peer that is not a trusted proxy, and stops at garbage', () => {
      trustProxies(['10.0.0.0/8']);
      assert.equal(clientAddress(request('198.51.100.4', '203.0.113.9')), '198.51.100.4');
      assert.equal(clientAddress(request(undefined, '203.0.113.9, 198.51.100.4')), '198.51.100.4');
      assert.equal(clientAddress(request('10.1.2.3', 'not-an-address')), 'not-an-address');
      // Only trusted proxies all the way: the first of them.
      assert.equal(clientAddress(request('10.1.2.3', '10.9.9.9')), '10.9.9.9');
      assert.equal(clientAddress(request('10.1.2.3')), '10.1.2.3');
    });
  });
});
