import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../control/route-table.ts';
import { invokeTarget } from './invoke-target.ts';

const head = (method: string, url: string) => ({ method, url, headers: {}, remoteAddress: '127.0.0.1' });

describe('invokeTarget', () => {
  it("never gives a worker's internal API to a declared route, even one stored before it was refused", () => {
    const routes = new RouteTable();
    routes.replace([
      { method: 'ANY', path: '/*', functionName: 'catch-all' },
      { method: 'ANY', path: '/internal/*', functionName: 'hijack' },
    ]);
    for (const path of ['/internal/v1/prepare', '/internal/v1/retire', '/internal/v1/execute']) {
      assert.equal(invokeTarget(head('POST', path), routes), undefined, path);
    }
    const below = invokeTarget(head('POST', '/internals'), routes);
    assert.equal(below?.kind === 'http' && below.name, 'catch-all');
  });
});
