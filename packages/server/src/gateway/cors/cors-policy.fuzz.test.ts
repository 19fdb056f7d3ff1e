import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOrigin, validateCors } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { CorsPolicy } from './cors-policy.ts';

const APP = 'https://app.example.com';

/**
 * A preflight's Origin, method and Access-Control-Request-Headers are the client's to write: any
 * text gives an answer or a refusal, never a throw, and an answer only ever allows the project's
 * origin and what the project lists.
 */
describe('CorsPolicy.preflight (fuzz)', () => {
  it('answers any Origin and request headers with the policy or a refusal', async () => {
    const policy = new CorsPolicy(
      validateCors({
        allowOrigins: [APP],
        allowHeaders: ['content-type', 'x-trace'],
        allowCredentials: true,
      }),
    );
    assert.ok('headers' in policy.preflight(APP, 'POST', 'Content-Type, X-Trace', true));
    assert.ok('refused' in policy.preflight(`${APP}.evil.example`, 'POST', undefined, true));
    assert.ok('refused' in policy.preflight(APP, 'POST', 'content-type,x-other', true));
    await fuzz({
      seeds: [
        Buffer.from(`${APP}\nPOST\ncontent-type, x-trace`),
        Buffer.from(`${APP}\nGET\n,,, ,content-type,`),
        Buffer.from('null\nOPTIONS\n*'),
      ],
      run(input) {
        const [origin = '', method = '', headers] = Buffer.from(input).toString('latin1').split('\n');
        const answer = policy.preflight(origin, method, headers, true);
        if ('headers' in answer) {
          assert.equal(origin, APP);
          assert.equal(answer.headers['access-control-allow-origin'], APP);
          for (const name of (answer.headers['access-control-allow-headers'] ?? '').split(', ')) {
            if (name) assert.ok(['content-type', 'x-trace'].includes(name), name);
          }
        }
        const actual = policy.responseHeaders(origin, true);
        if (origin !== APP) assert.deepEqual(actual, { vary: 'Origin' });
      },
    });
  });

  it('isOrigin takes exactly what a browser sends as Origin', async () => {
    for (const good of [APP, 'http://localhost:5173', 'https://[::1]:8443', 'http://127.0.0.1'])
      assert.ok(isOrigin(good), good);
    for (const bad of [
      `${APP}/`,
      `${APP}:443`,
      'HTTPS://APP.EXAMPLE.COM',
      'null',
      'app.example.com',
      `${APP}/x`,
    ])
      assert.ok(!isOrigin(bad), bad);
    await fuzz({
      seeds: [Buffer.from(APP), Buffer.from('http://a.b:8080'), Buffer.from('https://u:p@x.y/?#')],
      run(input) {
        const text = Buffer.from(input).toString('latin1');
        if (isOrigin(text)) assert.equal(new URL(text).origin, text);
      },
    });
  });
});
