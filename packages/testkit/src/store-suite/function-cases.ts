import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, type MetadataStore } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';
import { asStored, sampleImageVersion, sampleVersion } from './samples.ts';

type GetStore = () => MetadataStore;

const routesOf = async (store: MetadataStore, name: string) =>
  (await store.listRoutes())
    .filter((r) => r.functionName === name)
    .map((r) => `${r.method} ${r.path}`)
    .sort();

export function functionCases(getStore: GetStore): void {
  it('createFunction writes version 1 and returns it exactly as given', async () => {
    const store = getStore();
    const input = sampleImageVersion('img', [{ method: 'GET', path: '/img' }]);
    const record = await store.createFunction(input);
    assert.equal(record.name, 'img');
    assert.equal(record.latestVersion, 1);
    assert.equal(record.createdAt, record.updatedAt);
    assert.ok(!Number.isNaN(Date.parse(record.createdAt)));
    assert.deepEqual(record.latest, asStored(input, 1, record.latest.createdAt));
    assert.deepEqual(await store.getFunction('img'), record);
    assert.deepEqual(await store.getVersion('img', 1), record.latest);
  });

  it('a version keeps the createdAt it is given (the candidate a deploy prepared), in no config field', async () => {
    const store = getStore();
    const made = await store.createFunction({
      ...sampleVersion('given'),
      createdAt: '2026-01-02T03:04:05.678Z',
    });
    assert.equal(made.latest.createdAt, '2026-01-02T03:04:05.678Z');
    const next = await store.addVersion({ ...sampleVersion('given'), createdAt: '2026-01-02T03:04:06.000Z' });
    assert.equal(next.latest.createdAt, '2026-01-02T03:04:06.000Z');
    assert.equal((await store.getVersion('given', 1))?.createdAt, '2026-01-02T03:04:05.678Z');
  });

  it('keeps optional config fields absent when they were not given', async () => {
    const store = getStore();
    const record = await store.createFunction(sampleVersion('plain'));
    for (const field of ['image', 'command', 'isolation', 'network'] as const) {
      assert.equal(field in record.latest, false, `${field} should be absent`);
    }
  });

  it('answers undefined for a function or version that does not exist', async () => {
    const store = getStore();
    assert.equal(await store.getFunction('nope'), undefined);
    await store.createFunction(sampleVersion('one'));
    assert.equal(await store.getVersion('one', 2), undefined);
    assert.equal(await store.getVersion('nope', 1), undefined);
  });

  it('refuses a taken name with FUNCTION_EXISTS and leaves the function as it was', async () => {
    const store = getStore();
    const first = await store.createFunction(
      sampleVersion('dup', { routes: [{ method: 'GET', path: '/a' }] }),
    );
    await rejectsWithCode(
      store.createFunction(
        sampleVersion('dup', { description: 'other', routes: [{ method: 'GET', path: '/b' }] }),
      ),
      ErrorCode.FUNCTION_EXISTS,
    );
    assert.deepEqual(await store.getFunction('dup'), first);
    assert.deepEqual(await routesOf(store, 'dup'), ['GET /a']);
  });

  it('refuses a route owned by another function with ROUTE_CONFLICT and writes nothing', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('owner', { routes: [{ method: 'GET', path: '/users/:id' }] }));
    const revision = await store.routesRevision();
    await rejectsWithCode(
      store.createFunction(
        sampleVersion('intruder', {
          routes: [
            { method: 'POST', path: '/free' },
            { method: 'GET', path: '/users/:id' },
          ],
        }),
      ),
      ErrorCode.ROUTE_CONFLICT,
    );
    assert.equal(await store.getFunction('intruder'), undefined);
    assert.equal(await store.getVersion('intruder', 1), undefined);
    assert.deepEqual(await routesOf(store, 'intruder'), []);
    assert.equal(await store.routesRevision(), revision);
    // Nothing half-written: the name is still free.
    await store.createFunction(sampleVersion('intruder', { routes: [{ method: 'POST', path: '/free' }] }));
  });

  it('treats ANY as conflicting with every method on the same path, in both directions', async () => {
    const store = getStore();
    await store.createFunction(
      sampleVersion('a', {
        routes: [
          { method: 'ANY', path: '/any' },
          { method: 'GET', path: '/get' },
        ],
      }),
    );
    await rejectsWithCode(
      store.createFunction(sampleVersion('b', { routes: [{ method: 'DELETE', path: '/any' }] })),
      ErrorCode.ROUTE_CONFLICT,
    );
    await rejectsWithCode(
      store.createFunction(sampleVersion('b', { routes: [{ method: 'ANY', path: '/get' }] })),
      ErrorCode.ROUTE_CONFLICT,
    );
    await rejectsWithCode(
      store.createFunction(sampleVersion('b', { routes: [{ method: 'ANY', path: '/any' }] })),
      ErrorCode.ROUTE_CONFLICT,
    );
    // Another method on a concrete path, or another path, is free.
    await store.createFunction(
      sampleVersion('b', {
        routes: [
          { method: 'POST', path: '/get' },
          { method: 'GET', path: '/any/more' },
        ],
      }),
    );
    assert.deepEqual(await routesOf(store, 'b'), ['GET /any/more', 'POST /get']);
  });

  it('refuses a route of the same shape: other parameter names, a trailing slash, ANY', async () => {
    const store = getStore();
    await store.createFunction(
      sampleVersion('users', {
        routes: [
          { method: 'GET', path: '/users/:id' },
          { method: 'POST', path: '/teams/:team/members' },
          { method: 'GET', path: '/:org/repos' },
          { method: 'GET', path: '/' },
        ],
      }),
    );
    for (const route of [
      { method: 'GET', path: '/users/:uid' },
      { method: 'GET', path: '/users/:id/' },
      { method: 'ANY', path: '/users/:name' },
      { method: 'POST', path: '/teams/:t/members/' },
      { method: 'GET', path: '/:owner/repos' },
      { method: 'ANY', path: '/' },
    ] as const) {
      const err = await rejectsWithCode(
        store.createFunction(sampleVersion('shadow', { routes: [route] })),
        ErrorCode.ROUTE_CONFLICT,
      );
      assert.deepEqual((err as unknown as { details: { route: unknown } }).details.route, route);
    }
    // A static segment where the other has a parameter is more specific, not the same shape.
    await store.createFunction(
      sampleVersion('shadow', {
        routes: [
          { method: 'GET', path: '/users/me' },
          { method: 'PUT', path: '/users/:id' },
          { method: 'GET', path: '/users/:id/posts' },
          { method: 'GET', path: '/:org/issues' },
        ],
      }),
    );
    assert.deepEqual(await routesOf(store, 'shadow'), [
      'GET /:org/issues',
      'GET /users/:id/posts',
      'GET /users/me',
      'PUT /users/:id',
    ]);
  });

  it('lets a function keep or re-declare its own routes, including ANY next to a method', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('self', { routes: [{ method: 'GET', path: '/self' }] }));
    const next = await store.addVersion(
      sampleVersion('self', {
        routes: [
          { method: 'GET', path: '/self' },
          { method: 'ANY', path: '/self' },
        ],
      }),
    );
    assert.equal(next.latestVersion, 2);
    assert.deepEqual(await routesOf(store, 'self'), ['ANY /self', 'GET /self']);
  });

  it('addVersion appends the next version, replaces routes and keeps old versions intact', async () => {
    const store = getStore();
    const v1 = await store.createFunction(sampleVersion('fn', { routes: [{ method: 'GET', path: '/old' }] }));
    const input = sampleVersion('fn', {
      description: 'second',
      env: { ONLY: 'two' },
      codeSha256: 'c'.repeat(64),
      routes: [{ method: 'POST', path: '/new' }],
    });
    const v2 = await store.addVersion(input);
    assert.equal(v2.latestVersion, 2);
    assert.equal(v2.createdAt, v1.createdAt);
    assert.ok(Date.parse(v2.updatedAt) >= Date.parse(v1.updatedAt));
    assert.deepEqual(v2.latest, asStored(input, 2, v2.latest.createdAt));
    assert.deepEqual(await store.getVersion('fn', 1), v1.latest);
    assert.deepEqual(await routesOf(store, 'fn'), ['POST /new']);
    const v3 = await store.addVersion(sampleVersion('fn'));
    assert.equal(v3.latestVersion, 3);
    assert.deepEqual(await routesOf(store, 'fn'), []);
  });

  it('addVersion of a missing function throws FUNCTION_NOT_FOUND', async () => {
    const store = getStore();
    await rejectsWithCode(store.addVersion(sampleVersion('ghost')), ErrorCode.FUNCTION_NOT_FOUND);
    assert.equal(await store.getFunction('ghost'), undefined);
  });

  it('addVersion with a stale expectedLatest throws CONFLICT and writes nothing', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('occ', { routes: [{ method: 'GET', path: '/occ' }] }));
    const v2 = await store.addVersion(
      sampleVersion('occ', { routes: [{ method: 'GET', path: '/occ2' }] }),
      1,
    );
    assert.equal(v2.latestVersion, 2);
    const revision = await store.routesRevision();
    await rejectsWithCode(
      store.addVersion(sampleVersion('occ', { routes: [{ method: 'GET', path: '/occ3' }] }), 1),
      ErrorCode.CONFLICT,
    );
    assert.deepEqual(await store.getFunction('occ'), v2);
    assert.equal(await store.getVersion('occ', 3), undefined);
    assert.deepEqual(await routesOf(store, 'occ'), ['GET /occ2']);
    assert.equal(await store.routesRevision(), revision);
  });

  it('addVersion with a route owned by another function throws ROUTE_CONFLICT and writes nothing', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('a', { routes: [{ method: 'ANY', path: '/a' }] }));
    const b1 = await store.createFunction(sampleVersion('b', { routes: [{ method: 'GET', path: '/b' }] }));
    await rejectsWithCode(
      store.addVersion(sampleVersion('b', { routes: [{ method: 'PUT', path: '/a' }] })),
      ErrorCode.ROUTE_CONFLICT,
    );
    assert.deepEqual(await store.getFunction('b'), b1);
    assert.equal(await store.getVersion('b', 2), undefined);
    assert.deepEqual(await routesOf(store, 'b'), ['GET /b']);
  });

  it('frees routes that a new version drops or a deleted function held', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('a', { routes: [{ method: 'GET', path: '/one' }] }));
    await store.createFunction(sampleVersion('b', { routes: [{ method: 'GET', path: '/two' }] }));
    await store.addVersion(sampleVersion('a'));
    await store.deleteFunction('b');
    await store.createFunction(
      sampleVersion('c', {
        routes: [
          { method: 'GET', path: '/one' },
          { method: 'GET', path: '/two' },
        ],
      }),
    );
    assert.deepEqual(await routesOf(store, 'c'), ['GET /one', 'GET /two']);
  });

  it('listRoutes returns every declared route with its owner', async () => {
    const store = getStore();
    await store.createFunction(
      sampleVersion('a', {
        routes: [
          { method: 'GET', path: '/a' },
          { method: 'ANY', path: '/a/*' },
        ],
      }),
    );
    await store.createFunction(sampleVersion('b', { routes: [{ method: 'POST', path: '/b/:id' }] }));
    await store.createFunction(sampleVersion('none'));
    const routes = (await store.listRoutes()).map((r) => `${r.functionName} ${r.method} ${r.path}`).sort();
    assert.deepEqual(routes, ['a ANY /a/*', 'a GET /a', 'b POST /b/:id']);
  });

  it('routesRevision grows on every function or route change', async () => {
    const store = getStore();
    const seen = [await store.routesRevision()];
    await store.createFunction(sampleVersion('r', { routes: [{ method: 'GET', path: '/r' }] }));
    seen.push(await store.routesRevision());
    await store.createFunction(sampleVersion('no-routes'));
    seen.push(await store.routesRevision());
    await store.addVersion(sampleVersion('r'));
    seen.push(await store.routesRevision());
    await store.deleteFunction('r');
    seen.push(await store.routesRevision());
    for (let i = 1; i < seen.length; i++) {
      assert.ok((seen[i] as number) > (seen[i - 1] as number), `revision did not grow: ${seen.join(', ')}`);
    }
    const before = await store.routesRevision();
    assert.equal(await store.deleteFunction('r'), false);
    assert.equal(await store.routesRevision(), before, 'deleting nothing changed the revision');
  });

  it('deleteFunction removes the function, its versions and routes, and keeps its invocations', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('gone', { routes: [{ method: 'GET', path: '/gone' }] }));
    await store.addVersion(sampleVersion('gone', { routes: [{ method: 'GET', path: '/gone' }] }));
    const { invocation } = await store.createInvocation({
      id: 'inv_kept',
      functionName: 'gone',
      version: 2,
      mode: 'async',
      trigger: 'api',
      status: 'succeeded',
      attempts: 1,
      createdAt: new Date().toISOString(),
    });
    assert.equal(await store.deleteFunction('gone'), true);
    assert.equal(await store.getFunction('gone'), undefined);
    assert.equal(await store.getVersion('gone', 1), undefined);
    assert.deepEqual((await store.listVersions('gone', {})).items, []);
    assert.deepEqual(await routesOf(store, 'gone'), []);
    assert.deepEqual((await store.listFunctions({})).items, []);
    assert.deepEqual(await store.getInvocation('inv_kept'), invocation);
    assert.equal(await store.deleteFunction('gone'), false);
    // The name starts over at version 1.
    const again = await store.createFunction(sampleVersion('gone'));
    assert.equal(again.latestVersion, 1);
  });
}
