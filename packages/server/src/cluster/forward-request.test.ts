import assert from 'node:assert/strict';
import { it } from 'node:test';
import { workerUrl } from './forward-request.ts';

it("sends a forwarded request to the worker's host whatever host or path form the caller gave", () => {
  const node = { url: 'http://10.0.0.7:8080' };
  for (const given of [
    '/api/v1/instances/inst_1/files?path=a%20b',
    'http://attacker.example:9999/api/v1/instances/inst_1/files?path=a%20b',
    'https://attacker.example/api/v1/instances/inst_1/files?path=a%20b',
    '//attacker.example/api/v1/instances/inst_1/files?path=a%20b',
  ]) {
    const url = workerUrl(node, given);
    assert.equal(url.origin, 'http://10.0.0.7:8080', given);
  }
  const url = workerUrl(node, '/api/v1/instances/inst_1/files?path=a%20b');
  assert.equal(`${url.pathname}${url.search}`, '/api/v1/instances/inst_1/files?path=a%20b');
});
