import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthThrottle, clientKey } from './auth-throttle.ts';

function clock() {
  let now = 1_000_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('AuthThrottle', () => {
  it('allows a burst of `limit` failures, then asks the client to wait until a token is back', () => {
    const c = clock();
    const t = new AuthThrottle({ limit: 3, windowMs: 60_000, now: c.now });
    for (let i = 0; i < 3; i++) {
      assert.equal(t.retryAfterMs('10.0.0.1'), 0);
      t.fail('10.0.0.1');
    }
    // One token comes back every 20 s.
    assert.equal(t.retryAfterMs('10.0.0.1'), 20_000);
    assert.equal(t.retryAfterMs('10.0.0.2'), 0, 'other clients are not affected');
    c.advance(15_000);
    assert.equal(t.retryAfterMs('10.0.0.1'), 5_000);
    c.advance(5_000);
    assert.equal(t.retryAfterMs('10.0.0.1'), 0);
    t.fail('10.0.0.1');
    assert.equal(t.retryAfterMs('10.0.0.1'), 20_000, 'one try, then wait again');
  });

  it('forgets a client whose allowance refilled, and never holds more than maxClients', () => {
    const c = clock();
    const t = new AuthThrottle({ limit: 2, windowMs: 1000, maxClients: 100, now: c.now });
    t.fail('192.0.2.1');
    assert.equal(t.size, 1);
    c.advance(1000);
    assert.equal(t.retryAfterMs('192.0.2.1'), 0);
    assert.equal(t.size, 0);
    for (let i = 0; i < 1000; i++) t.fail(`198.51.${i >> 8}.${i & 255}`);
    assert.equal(t.size, 100);
  });

  it('is off with limit 0', () => {
    const t = new AuthThrottle({ limit: 0, windowMs: 1000 });
    for (let i = 0; i < 100; i++) t.fail('203.0.113.9');
    assert.equal(t.retryAfterMs('203.0.113.9'), 0);
    assert.equal(t.size, 0);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4', () => {
    const c = clock();
    const t = new AuthThrottle({ limit: 1, windowMs: 60_000, now: c.now });
    t.fail('2001:db8:1:2::1');
    assert.ok(t.retryAfterMs('2001:db8:1:2:ffff:eeee:dddd:cccc') > 0, 'same /64');
    assert.equal(t.retryAfterMs('2001:db8:1:3::1'), 0, 'another /64');
    t.fail('::ffff:192.0.2.7');
    assert.ok(t.retryAfterMs('192.0.2.7') > 0);
  });
});

describe('clientKey', () => {
  it('normalises addresses', () => {
    assert.equal(clientKey('192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('2001:0db8:0000:0001:0:0:0:1'), '2001:db8:0:1::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
