import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type RouteSpec, routesOverlap } from './functions.ts';

const route = (spec: string): RouteSpec => {
  const [method, path] = spec.split(' ') as [RouteSpec['method'], string];
  return { method, path };
};
const overlap = (a: string, b: string) => {
  const there = routesOverlap(route(a), route(b));
  assert.equal(routesOverlap(route(b), route(a)), there, `${a} / ${b} is not symmetric`);
  return there;
};

describe('routesOverlap', () => {
  it('is true when one request matches both routes', () => {
    for (const [a, b] of [
      ['GET /shop/items/:id', 'GET /shop/items/special'],
      ['POST /shop/orders/*', 'POST /shop/orders/new'],
      ['GET /shop/*', 'GET /shop'],
      ['GET /*', 'GET /'],
      ['GET /:a/b', 'GET /a/:b'],
      ['ANY /x/:id', 'DELETE /x/1'],
      ['GET /a/*', 'GET /:x/b/c/*'],
      ['GET /users/:id/', 'GET /users/:uid'],
    ])
      assert.equal(overlap(a as string, b as string), true, `${a} / ${b}`);
  });

  it('is false when no request matches both', () => {
    for (const [a, b] of [
      ['GET /shop/items/:id', 'POST /shop/items/special'],
      ['GET /shop/items/:id', 'GET /shop/items'],
      ['GET /shop/items/:id', 'GET /shop/items/1/x'],
      ['GET /shop/*', 'GET /shopping'],
      ['GET /a/:x', 'GET /b/:x'],
      ['GET /a/b/*', 'GET /a/c/*'],
      ['GET /', 'GET /a'],
    ])
      assert.equal(overlap(a as string, b as string), false, `${a} / ${b}`);
  });
});
