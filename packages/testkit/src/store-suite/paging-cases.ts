import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULT_PAGE_LIMIT, ErrorCode, MAX_PAGE_LIMIT, type MetadataStore, type Page } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';
import { sampleInvocation, sampleVersion } from './samples.ts';

type GetStore = () => MetadataStore;

/** Follows `nextCursor` to the end; returns every page's items. */
export async function collectPages<T>(
  fetch: (cursor: string | undefined) => Promise<Page<T>>,
  maxPages = 1_000,
): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | undefined;
  do {
    const page = await fetch(cursor);
    pages.push(page.items);
    cursor = page.nextCursor;
    assert.ok(pages.length <= maxPages, 'paging did not end');
  } while (cursor !== undefined);
  return pages;
}

export function pagingCases(getStore: GetStore): void {
  it('lists functions by name across pages, the last page without a cursor', async () => {
    const store = getStore();
    const names = ['delta', 'alpha', 'golf', 'charlie', 'echo', 'bravo', 'foxtrot'];
    for (const name of names) await store.createFunction(sampleVersion(name));
    await store.addVersion(sampleVersion('echo', { description: 'v2' }));
    const pages = await collectPages((cursor) =>
      store.listFunctions({ limit: 3, ...(cursor ? { cursor } : {}) }),
    );
    assert.deepEqual(
      pages.map((p) => p.map((f) => f.name)),
      [['alpha', 'bravo', 'charlie'], ['delta', 'echo', 'foxtrot'], ['golf']],
    );
    const echo = pages.flat().find((f) => f.name === 'echo');
    assert.equal(echo?.latestVersion, 2);
    assert.equal(echo?.latest.description, 'v2');
  });

  it('has no cursor when the items fit one page exactly', async () => {
    const store = getStore();
    for (const name of ['a', 'b', 'c']) await store.createFunction(sampleVersion(name));
    const page = await store.listFunctions({ limit: 3 });
    assert.equal(page.items.length, 3);
    assert.equal(page.nextCursor, undefined);
    assert.deepEqual(await store.listFunctions({}), { items: page.items });
  });

  it('lists versions newest first across pages', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('v'));
    for (let i = 0; i < 4; i++) await store.addVersion(sampleVersion('v', { description: `v${i + 2}` }));
    await store.createFunction(sampleVersion('other'));
    const pages = await collectPages((cursor) =>
      store.listVersions('v', { limit: 2, ...(cursor ? { cursor } : {}) }),
    );
    assert.deepEqual(
      pages.map((p) => p.map((v) => v.version)),
      [[5, 4], [3, 2], [1]],
    );
    assert.equal(pages[0]?.[0]?.description, 'v5');
    assert.ok(pages.flat().every((v) => v.name === 'v'));
    assert.deepEqual((await store.listVersions('missing', {})).items, []);
  });

  it('lists invocations newest first across pages without gaps or repeats', async () => {
    const store = getStore();
    const all = Array.from({ length: 23 }, () => sampleInvocation());
    await store.createInvocations([...all].reverse());
    const pages = await collectPages((cursor) =>
      store.listInvocations({}, { limit: 5, ...(cursor ? { cursor } : {}) }),
    );
    assert.deepEqual(
      pages.map((p) => p.length),
      [5, 5, 5, 5, 3],
    );
    assert.deepEqual(
      pages.flat().map((i) => i.id),
      all.map((i) => i.id).reverse(),
    );
  });

  it('pages invocations that share one creation time without skipping any', async () => {
    const store = getStore();
    const createdAt = new Date().toISOString();
    const same = Array.from({ length: 9 }, () => sampleInvocation({ createdAt }));
    await store.createInvocations(same);
    const pages = await collectPages((cursor) =>
      store.listInvocations({}, { limit: 4, ...(cursor ? { cursor } : {}) }),
    );
    const ids = pages.flat().map((i) => i.id);
    assert.equal(new Set(ids).size, 9);
    assert.deepEqual([...ids].sort(), same.map((i) => i.id).sort());
  });

  it('keeps paging stable while new invocations arrive at the head', async () => {
    const store = getStore();
    const first = Array.from({ length: 6 }, () => sampleInvocation());
    await store.createInvocations(first);
    const page1 = await store.listInvocations({}, { limit: 3 });
    await store.createInvocations([sampleInvocation(), sampleInvocation()]);
    const page2 = await store.listInvocations(
      {},
      { limit: 3, ...(page1.nextCursor ? { cursor: page1.nextCursor } : {}) },
    );
    assert.deepEqual(
      [...page1.items, ...page2.items].map((i) => i.id),
      first.map((i) => i.id).reverse(),
    );
  });

  it('visits every match when paging by status while updating what it visits', async () => {
    // reconcileOrphans' pattern: items leave the filter as they are handled.
    const store = getStore();
    const queued = Array.from({ length: 7 }, () =>
      sampleInvocation({ status: 'queued', mode: 'async', attempts: 0 }),
    );
    await store.createInvocations(queued);
    const visited: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listInvocations(
        { status: 'queued' },
        { limit: 3, ...(cursor ? { cursor } : {}) },
      );
      for (const inv of page.items) {
        visited.push(inv.id);
        await store.updateInvocation(inv.id, { status: 'failed' });
      }
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(visited.sort(), queued.map((i) => i.id).sort());
    assert.deepEqual((await store.listInvocations({ status: 'queued' }, {})).items, []);
  });

  it(`defaults to ${DEFAULT_PAGE_LIMIT} items and caps a page at ${MAX_PAGE_LIMIT}`, async () => {
    const store = getStore();
    const many = Array.from({ length: MAX_PAGE_LIMIT + 1 }, () => sampleInvocation());
    await store.createInvocations(many);
    const byDefault = await store.listInvocations({}, {});
    assert.equal(byDefault.items.length, DEFAULT_PAGE_LIMIT);
    assert.ok(byDefault.nextCursor);
    const capped = await store.listInvocations({}, { limit: MAX_PAGE_LIMIT * 10 });
    assert.equal(capped.items.length, MAX_PAGE_LIMIT);
    const rest = await store.listInvocations(
      {},
      { limit: MAX_PAGE_LIMIT, ...(capped.nextCursor ? { cursor: capped.nextCursor } : {}) },
    );
    assert.equal(rest.items.length, 1);
    assert.equal(rest.nextCursor, undefined);
  });

  it('rejects a cursor it did not make with BAD_REQUEST', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('x'));
    await rejectsWithCode(store.listFunctions({ cursor: 'not-a-cursor' }), ErrorCode.BAD_REQUEST);
    await rejectsWithCode(store.listVersions('x', { cursor: '!!!' }), ErrorCode.BAD_REQUEST);
    await rejectsWithCode(store.listInvocations({}, { cursor: 'e30' }), ErrorCode.BAD_REQUEST);
  });
}
