import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from './route-table.ts';

describe('RouteTable', () => {
  const table = new RouteTable();
  table.replace([
    { method: 'GET', path: '/users', functionName: 'list' },
    { method: 'GET', path: '/users/:id', functionName: 'get' },
    { method: 'GET', path: '/users/me', functionName: 'me' },
    { method: 'POST', path: '/users', functionName: 'create' },
    { method: 'ANY', path: '/hook', functionName: 'hook' },
    { method: 'GET', path: '/files/*', functionName: 'files' },
    { method: 'GET', path: '/users/:id/posts/:post', functionName: 'post' },
  ]);

  it('finds exact routes by method and path', () => {
    assert.equal(table.match('GET', '/users')?.functionName, 'list');
    assert.equal(table.match('POST', '/users')?.functionName, 'create');
    assert.equal(table.match('DELETE', '/users'), undefined);
    assert.equal(table.match('GET', '/users/')?.functionName, 'list');
  });

  it('prefers a static segment over a parameter', () => {
    assert.equal(table.match('GET', '/users/me')?.functionName, 'me');
    assert.deepEqual(table.match('GET', '/users/42')?.params, { id: '42' });
  });

  it('extracts several decoded parameters', () => {
    const m = table.match('GET', '/users/a%20b/posts/7');
    assert.equal(m?.functionName, 'post');
    assert.deepEqual(m?.params, { id: 'a b', post: '7' });
  });

  it('matches ANY for every method and a trailing wildcard for the rest of the path', () => {
    assert.equal(table.match('PATCH', '/hook')?.functionName, 'hook');
    assert.deepEqual(table.match('GET', '/files/a/b/c.txt')?.params, { '*': 'a/b/c.txt' });
    assert.equal(table.match('GET', '/nothing'), undefined);
  });

  it('replaces the whole table', () => {
    const t = new RouteTable();
    t.replace([{ method: 'GET', path: '/a', functionName: 'a' }]);
    t.replace([{ method: 'GET', path: '/b', functionName: 'b' }]);
    assert.equal(t.match('GET', '/a'), undefined);
    assert.equal(t.match('GET', '/b')?.functionName, 'b');
    assert.equal(t.size, 1);
  });

  it("answers a project's host with that project's routes alone, other hosts with the shared ones", () => {
    const hosted = new RouteTable();
    hosted.replace([
      { method: 'GET', path: '/hello', functionName: 'team-a.hello', host: 'a.example.com' },
      { method: 'GET', path: '/hello', functionName: 'team-b.hello', host: 'b.example.com' },
      { method: 'GET', path: '/hello', functionName: 'hello' },
      { method: 'GET', path: '/only-shared', functionName: 'shared' },
    ]);
    assert.equal(hosted.match('GET', '/hello', 'a.example.com')?.functionName, 'team-a.hello');
    // The Host as browsers send it: any case, a port, a final dot.
    assert.equal(hosted.match('GET', '/hello', 'B.Example.com:8443')?.functionName, 'team-b.hello');
    assert.equal(hosted.match('GET', '/hello', 'b.example.com.')?.functionName, 'team-b.hello');
    assert.equal(hosted.match('GET', '/hello', 'localhost:8080')?.functionName, 'hello');
    assert.equal(hosted.match('GET', '/hello')?.functionName, 'hello');
    // A project's host does not fall through to the shared routes.
    assert.equal(hosted.match('GET', '/only-shared', 'a.example.com'), undefined);
    assert.equal(hosted.match('GET', '/only-shared', 'other.example.com')?.functionName, 'shared');
    assert.equal(hosted.size, 4);
  });
});
