import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, type MetadataStore } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';
import { sampleInvocation, sampleVersion } from './samples.ts';
import { sampleSnapshot } from './snapshot-cases.ts';

type GetStore = () => MetadataStore;

/** Projects (tenants): the store keeps each object's project and filters by it. */
export function projectCases(getStore: GetStore): void {
  it('has the default project from the start; creates, gets and lists projects; a name is taken once', async () => {
    const store = getStore();
    assert.deepEqual(
      (await store.listProjects()).map((p) => p.name),
      ['default'],
    );
    await store.createProject({ name: 'team-b', createdAt: '2030-01-01T00:00:00.000Z' });
    await store.createProject({ name: 'team-a', createdAt: '2030-01-02T00:00:00.000Z' });
    assert.deepEqual(await store.getProject('team-a'), {
      name: 'team-a',
      createdAt: '2030-01-02T00:00:00.000Z',
    });
    assert.equal(await store.getProject('nope'), undefined);
    assert.deepEqual(
      (await store.listProjects()).map((p) => p.name),
      ['default', 'team-a', 'team-b'],
    );
    await rejectsWithCode(
      store.createProject({ name: 'team-a', createdAt: '2030-01-03T00:00:00.000Z' }),
      ErrorCode.PROJECT_EXISTS,
    );
  });

  it("keeps a function's project, lists one project's functions, and never moves a function to another project", async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('a1', { project: 'team-a' }));
    await store.createFunction(sampleVersion('b1', { project: 'team-b' }));
    await store.createFunction(sampleVersion('a2', { project: 'team-a' }));
    assert.equal((await store.getFunction('a1'))?.latest.project, 'team-a');
    assert.equal((await store.getVersion('b1', 1))?.project, 'team-b');
    const names = async (project?: string) =>
      (await store.listFunctions({ limit: 10 }, project)).items.map((f) => f.name);
    assert.deepEqual(await names('team-a'), ['a1', 'a2']);
    assert.deepEqual(await names('team-b'), ['b1']);
    assert.deepEqual(await names(), ['a1', 'a2', 'b1']);
    // Paging stays within the project.
    const first = await store.listFunctions({ limit: 1 }, 'team-a');
    assert.deepEqual(
      first.items.map((f) => f.name),
      ['a1'],
    );
    const second = await store.listFunctions(
      { limit: 1, ...(first.nextCursor ? { cursor: first.nextCursor } : {}) },
      'team-a',
    );
    assert.deepEqual(
      second.items.map((f) => f.name),
      ['a2'],
    );
    // Narrowed to some names (a key's function list): pages and cursors hold only those.
    await store.createFunction(sampleVersion('a3', { project: 'team-a' }));
    const narrowed = await store.listFunctions({ limit: 1 }, 'team-a', ['a3', 'b1', 'a1']);
    assert.deepEqual(
      narrowed.items.map((f) => f.name),
      ['a1'],
    );
    const rest = await store.listFunctions(
      { limit: 1, ...(narrowed.nextCursor ? { cursor: narrowed.nextCursor } : {}) },
      'team-a',
      ['a3', 'b1', 'a1'],
    );
    assert.deepEqual(
      rest.items.map((f) => f.name),
      ['a3'],
    );
    assert.equal(rest.nextCursor, undefined);
    assert.deepEqual((await store.listFunctions({ limit: 10 }, 'team-a', [])).items, []);
    assert.deepEqual(
      (await store.listFunctions({ limit: 10 }, undefined, ['b1'])).items.map((f) => f.name),
      ['b1'],
    );
    // A version written for another project does not land on this function.
    await rejectsWithCode(
      store.addVersion(sampleVersion('a1', { project: 'team-b' })),
      ErrorCode.FUNCTION_NOT_FOUND,
    );
    assert.equal((await store.getFunction('a1'))?.latestVersion, 1);
  });

  it('a version stored without a project reads as the default project', async () => {
    const store = getStore();
    const { project: _project, ...unscoped } = sampleVersion('old');
    await store.createFunction(unscoped);
    assert.equal((await store.getFunction('old'))?.latest.project, 'default');
    assert.deepEqual(
      (await store.listFunctions({ limit: 10 }, 'default')).items.map((f) => f.name),
      ['old'],
    );
  });

  it("another project's route is refused without naming its function", async () => {
    const store = getStore();
    await store.createFunction(
      sampleVersion('a1', { project: 'team-a', routes: [{ method: 'GET', path: '/x/:id' }] }),
    );
    const err = await rejectsWithCode(
      store.createFunction(
        sampleVersion('b1', { project: 'team-b', routes: [{ method: 'GET', path: '/x/:other' }] }),
      ),
      ErrorCode.ROUTE_CONFLICT,
    );
    assert.doesNotMatch(JSON.stringify(err), /a1/);
    assert.doesNotMatch(err.message, /a1/);
  });

  it("a route that would take some of another project's requests is refused, either way round", async () => {
    const store = getStore();
    await store.createFunction(
      sampleVersion('shop', {
        project: 'team-b',
        routes: [
          { method: 'GET', path: '/shop-b/items/:id' },
          { method: 'POST', path: '/shop-b/orders/*' },
        ],
      }),
    );
    // More specific routes of another project would take team-b's callers' requests (and keys).
    for (const route of [
      { method: 'GET', path: '/shop-b/items/special' },
      { method: 'POST', path: '/shop-b/orders/new' },
      { method: 'ANY', path: '/shop-b/orders' },
      { method: 'GET', path: '/:any/items/:id' },
      { method: 'GET', path: '/*' },
    ] as const) {
      const err = await rejectsWithCode(
        store.createFunction(sampleVersion('squat', { project: 'team-a', routes: [route] })),
        ErrorCode.ROUTE_CONFLICT,
      );
      assert.deepEqual((err as unknown as { details: { route: unknown } }).details.route, route);
      assert.doesNotMatch(`${err.message} ${JSON.stringify(err)}`, /"shop"|team-b/);
    }
    assert.equal(await store.getFunction('squat'), undefined);
    // What no request of team-b's routes matches is free; so is the same within team-b.
    await store.createFunction(
      sampleVersion('squat', {
        project: 'team-a',
        routes: [
          { method: 'POST', path: '/shop-b/items/special' },
          { method: 'GET', path: '/shop-b/items' },
          { method: 'GET', path: '/shop-a/*' },
        ],
      }),
    );
    await store.createFunction(
      sampleVersion('special', {
        project: 'team-b',
        routes: [{ method: 'GET', path: '/shop-b/items/special' }],
      }),
    );
    // A project with a host answers alone: it may declare what overlaps the shared table, and
    // drops its host only when none of its routes would overlap another project's there.
    await store.createProject({ name: 'team-c', createdAt: '2030-01-01T00:00:00.000Z' });
    await store.setProjectHost('team-c', 'c.example.com');
    await store.createFunction(
      sampleVersion('team-c.all', { project: 'team-c', routes: [{ method: 'GET', path: '/shop-b/*' }] }),
    );
    await rejectsWithCode(store.setProjectHost('team-c', undefined), ErrorCode.ROUTE_CONFLICT);
    assert.equal((await store.getProject('team-c'))?.host, 'c.example.com');
  });

  it("filters invocations and log lines by the invocation's project", async () => {
    const store = getStore();
    const a = sampleInvocation({ project: 'team-a', functionName: 'same-name' });
    const b = sampleInvocation({ project: 'team-b', functionName: 'same-name' });
    await store.createInvocations(
      [a, b],
      [
        { invocationId: a.id, functionName: 'same-name', ts: 1, level: 'info', message: 'line of a' },
        { invocationId: b.id, functionName: 'same-name', ts: 2, level: 'info', message: 'line of b' },
      ],
    );
    assert.equal((await store.getInvocation(a.id))?.project, 'team-a');
    const ids = async (project: string) =>
      (await store.listInvocations({ project }, { limit: 10 })).items.map((i) => i.id);
    assert.deepEqual(await ids('team-a'), [a.id]);
    assert.deepEqual(await ids('team-b'), [b.id]);
    const lines = async (options: { project?: string; functionName?: string }) =>
      (await store.tailLogs({ afterSeq: 0, ...options })).map((l) => l.message);
    assert.deepEqual(await lines({ project: 'team-a' }), ['line of a']);
    assert.deepEqual(await lines({ project: 'team-b', functionName: 'same-name' }), ['line of b']);
    assert.deepEqual(await lines({}), ['line of a', 'line of b']);
  });

  it("keeps an API key's project", async () => {
    const store = getStore();
    await store.createApiKey({
      id: 'key_a',
      name: 'a',
      project: 'team-a',
      role: 'user',
      prefix: 'faas_aaaaaa',
      hash: 'h'.repeat(64),
      createdAt: '2030-01-01T00:00:00.000Z',
    });
    assert.equal((await store.findApiKeyByHash('h'.repeat(64)))?.project, 'team-a');
  });

  it("lists one project's snapshots (the project of the instance's spec)", async () => {
    const store = getStore();
    const base = sampleSnapshot('snap_base');
    await store.createSnapshot(sampleSnapshot('snap_a', { spec: { ...base.spec, project: 'team-a' } }));
    await store.createSnapshot(
      sampleSnapshot('snap_b', { spec: { ...base.spec, project: 'team-b' }, createdAt: 2_000 }),
    );
    await store.createSnapshot(sampleSnapshot('snap_d', { createdAt: 3_000 }));
    const ids = async (project?: string) =>
      (await store.listSnapshots(project === undefined ? {} : { project }, { limit: 10 })).items.map(
        (s) => s.id,
      );
    assert.deepEqual(await ids('team-a'), ['snap_a']);
    assert.deepEqual(await ids('default'), ['snap_d']);
    assert.deepEqual(await ids(), ['snap_d', 'snap_b', 'snap_a']);
  });

  it('gives a project a host name, takes it away, and refuses one another project has', async () => {
    const store = getStore();
    await store.createProject({ name: 'team-a', createdAt: '2030-01-01T00:00:00.000Z' });
    await store.createProject({ name: 'team-b', createdAt: '2030-01-01T00:00:00.000Z' });
    const before = await store.routesRevision();
    assert.deepEqual(await store.setProjectHost('team-a', 'a.example.com'), {
      name: 'team-a',
      createdAt: '2030-01-01T00:00:00.000Z',
      host: 'a.example.com',
    });
    assert.ok((await store.routesRevision()) > before, 'the route table must reload');
    assert.equal((await store.getProject('team-a'))?.host, 'a.example.com');
    assert.deepEqual(
      (await store.listProjects()).map((p) => [p.name, p.host]),
      [
        ['default', undefined],
        ['team-a', 'a.example.com'],
        ['team-b', undefined],
      ],
    );
    await rejectsWithCode(store.setProjectHost('team-b', 'a.example.com'), ErrorCode.HOST_TAKEN);
    await rejectsWithCode(store.setProjectHost('nope', 'n.example.com'), ErrorCode.PROJECT_NOT_FOUND);
    // Its own host again changes nothing; taken away, another project may have it.
    assert.equal((await store.setProjectHost('team-a', 'a.example.com')).host, 'a.example.com');
    assert.deepEqual(await store.setProjectHost('team-a', undefined), {
      name: 'team-a',
      createdAt: '2030-01-01T00:00:00.000Z',
    });
    assert.equal((await store.setProjectHost('team-b', 'a.example.com')).host, 'a.example.com');
  });

  it('lets projects with a host declare the same routes; refuses conflicts among those without', async () => {
    const store = getStore();
    for (const name of ['team-a', 'team-b', 'team-c']) {
      await store.createProject({ name, createdAt: '2030-01-01T00:00:00.000Z' });
    }
    await store.setProjectHost('team-a', 'a.example.com');
    await store.setProjectHost('team-b', 'b.example.com');
    const hello = [{ method: 'GET' as const, path: '/hello' }];
    await store.createFunction(sampleVersion('team-a.hello', { project: 'team-a', routes: hello }));
    await store.createFunction(sampleVersion('team-b.hello', { project: 'team-b', routes: hello }));
    await store.createFunction(sampleVersion('team-c.hello', { project: 'team-c', routes: hello }));
    assert.deepEqual(
      (await store.listRoutes()).map((r) => [r.functionName, r.method, r.path, r.host]),
      [
        ['team-a.hello', 'GET', '/hello', 'a.example.com'],
        ['team-b.hello', 'GET', '/hello', 'b.example.com'],
        ['team-c.hello', 'GET', '/hello', undefined],
      ],
    );
    // Within a project with a host, its own routes still conflict.
    await rejectsWithCode(
      store.createFunction(
        sampleVersion('team-a.other', { project: 'team-a', routes: [{ method: 'ANY', path: '/hello' }] }),
      ),
      ErrorCode.ROUTE_CONFLICT,
    );
    // Two projects without a host share one table: refused, naming nothing of the other.
    const refused = await rejectsWithCode(
      store.createFunction(sampleVersion('hello', { routes: [{ method: 'GET', path: '/hello/' }] })),
      ErrorCode.ROUTE_CONFLICT,
    );
    assert.doesNotMatch(refused.message, /team-c/);
    // team-a without its host would share GET /hello with team-c: refused, the host kept.
    const kept = await rejectsWithCode(store.setProjectHost('team-a', undefined), ErrorCode.ROUTE_CONFLICT);
    assert.doesNotMatch(kept.message, /team-c/);
    assert.equal((await store.getProject('team-a'))?.host, 'a.example.com');
    // Once team-c's route is gone, it may.
    await store.addVersion(sampleVersion('team-c.hello', { project: 'team-c', routes: [] }));
    assert.equal((await store.setProjectHost('team-a', undefined)).host, undefined);
    assert.equal((await store.listRoutes()).find((r) => r.functionName === 'team-a.hello')?.host, undefined);
  });

  it("keeps a project's quotas and enforces its functions quota in the create itself", async () => {
    const store = getStore();
    await store.createProject({ name: 'team-q', createdAt: '2030-01-01T00:00:00.000Z' });
    const before = await store.routesRevision();
    const set = await store.setProjectQuotas('team-q', { functions: 2, concurrentInvocations: 3 });
    assert.deepEqual(set.quotas, { functions: 2, concurrentInvocations: 3 });
    assert.deepEqual((await store.getProject('team-q'))?.quotas, { functions: 2, concurrentInvocations: 3 });
    assert.ok((await store.routesRevision()) > before, 'caches of quotas must reload');
    await rejectsWithCode(store.setProjectQuotas('nope', { functions: 1 }), ErrorCode.PROJECT_NOT_FOUND);
    // Two creates at once for the last function: one wins.
    await store.createFunction(sampleVersion('team-q.f1', { project: 'team-q' }));
    const raced = await Promise.allSettled([
      store.createFunction(sampleVersion('team-q.f2', { project: 'team-q' })),
      store.createFunction(sampleVersion('team-q.f3', { project: 'team-q' })),
    ]);
    assert.equal(raced.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = await rejectsWithCode(
      store.createFunction(sampleVersion('team-q.f4', { project: 'team-q' })),
      ErrorCode.QUOTA_EXCEEDED,
    );
    assert.deepEqual((refused as unknown as { details: unknown }).details, { quota: 'functions', limit: 2 });
    // Other projects are not counted, nor limited.
    await store.createFunction(sampleVersion('elsewhere', { project: 'default' }));
    // Taken away, the quota limits nothing.
    assert.equal((await store.setProjectQuotas('team-q', {})).quotas, undefined);
    await store.createFunction(sampleVersion('team-q.f4', { project: 'team-q' }));
  });

  it("keeps a project's CORS settings and moves the routes' revision, so every gateway reloads them", async () => {
    const store = getStore();
    await store.createProject({ name: 'team-cors', createdAt: '2030-01-01T00:00:00.000Z' });
    const cors = {
      allowOrigins: ['https://app.example.com', 'http://localhost:5173'],
      allowHeaders: ['content-type', 'x-trace'],
      exposeHeaders: ['x-invocation-id'],
      allowCredentials: true,
      maxAgeSeconds: 600,
    };
    const before = await store.routesRevision();
    assert.deepEqual((await store.setProjectCors('team-cors', cors)).cors, cors);
    assert.deepEqual((await store.getProject('team-cors'))?.cors, cors);
    assert.deepEqual((await store.listProjects()).find((p) => p.name === 'team-cors')?.cors, cors);
    assert.ok((await store.routesRevision()) > before, 'gateways reload projects when the revision moves');
    // The other settings stay; removing CORS leaves none.
    await store.setProjectRateLimit('team-cors', { requestsPerSecond: 5, burst: 5 });
    assert.deepEqual((await store.getProject('team-cors'))?.cors, cors);
    const removed = await store.setProjectCors('team-cors', undefined);
    assert.equal(removed.cors, undefined);
    assert.deepEqual(removed.rateLimit, { requestsPerSecond: 5, burst: 5 });
    assert.equal((await store.getProject('team-cors'))?.cors, undefined);
    await rejectsWithCode(store.setProjectCors('nope', cors), ErrorCode.PROJECT_NOT_FOUND);
  });

  it("enforces a project's snapshot storage quota on the snapshots it keeps", async () => {
    const store = getStore();
    await store.createProject({ name: 'team-s', createdAt: '2030-01-01T00:00:00.000Z' });
    await store.setProjectQuotas('team-s', { snapshotStorageBytes: 1000 });
    const of = (id: string, sizeBytes: number, project = 'team-s') => {
      const base = sampleSnapshot(id);
      return { ...base, sizeBytes, spec: { ...base.spec, project } };
    };
    await store.createSnapshot(of('snap_s1', 600));
    await store.createSnapshot(of('snap_s2', 400));
    const refused = await rejectsWithCode(store.createSnapshot(of('snap_s3', 1)), ErrorCode.QUOTA_EXCEEDED);
    assert.deepEqual((refused as unknown as { details: unknown }).details, {
      quota: 'snapshotStorageBytes',
      limit: 1000,
    });
    assert.equal(await store.getSnapshot('snap_s3'), undefined);
    // Another project's snapshots count for it alone.
    await store.createSnapshot(of('snap_o1', 5000, 'default'));
    // A deleted snapshot gives its bytes back.
    await store.deleteSnapshot('snap_s1');
    await store.createSnapshot(of('snap_s3', 600));
  });
}
