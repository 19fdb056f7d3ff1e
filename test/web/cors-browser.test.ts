import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../support/server.ts';

/** Debian's chromium (.ci/run installs it): no browser download works here. */
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium; .ci/run does)`;

/**
 * CORS as a browser enforces it: a page served from another origin (another port) calls the
 * server with `fetch`. A project that lists the page's origin lets it read its functions' answers
 * (after a preflight: JSON bodies are not "simple") and the API's with its key; a project that
 * does not is blocked by the browser, whatever the function answers.
 */
describe('CORS in a real browser', { skip }, () => {
  let s: TestServer;
  let site: Server;
  let siteOrigin: string;
  let browser: Browser;
  let page: Page;
  const keys: Record<string, string> = {};

  before(async () => {
    // Default gateway threads: the answers come from whichever thread the kernel picks.
    s = await startTestServer({ gatewayThreads: 0 });
    site = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>another origin</title>');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const address = site.address();
    assert.ok(address && typeof address === 'object');
    siteOrigin = `http://127.0.0.1:${address.port}`;
    for (const project of ['team-a', 'team-b']) {
      assert.equal(
        (await s.api('/api/v1/projects', { method: 'POST', json: { name: project } })).status,
        201,
      );
      const key = await s.api('/api/v1/keys', { method: 'POST', json: { name: project, project } });
      keys[project] = ((await key.json()) as { key: string }).key;
      const fn = await s.api('/api/v1/functions', {
        method: 'POST',
        headers: { 'x-faas-project': project },
        json: {
          name: 'hello',
          runtime: 'js',
          public: true,
          code: `export default (e) => ({ project: "${project}", got: e.body })`,
        },
      });
      assert.equal(fn.status, 201, await fn.text());
    }
    const set = await s.api('/api/v1/projects/team-a', {
      method: 'PATCH',
      json: { cors: { allowOrigins: [siteOrigin] } },
    });
    assert.equal(set.status, 200, await set.text());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(`${siteOrigin}/`);
  });
  after(async () => {
    await browser?.close();
    site?.close();
    await s?.close();
  });

  /** A cross-origin fetch made by the page: its JSON, or the error the browser gave. */
  const fetchFromPage = (
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string },
  ) =>
    page.evaluate(
      async ({ url, init }) => {
        try {
          const res = await fetch(url, init);
          return { status: res.status, json: await res.json() };
        } catch (err) {
          return { error: String(err) };
        }
      },
      { url, init },
    );

  it("lets the page call a function of a project that lists its origin, and blocks another project's", async () => {
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' };
    for (let i = 0; i < 3; i++) {
      const allowed = await fetchFromPage(`${s.url}/fn/team-a.hello`, post);
      assert.deepEqual(allowed, { status: 200, json: { project: 'team-a', got: '{"x":1}' } });
      const blocked = await fetchFromPage(`${s.url}/fn/team-b.hello`, post);
      assert.match(String((blocked as { error?: string }).error), /Failed to fetch/);
    }
  });

  it("lets the page call the API with its project's key, not with another project's", async () => {
    const list = (project: string) =>
      fetchFromPage(`${s.url}/api/v1/functions`, { headers: { authorization: `Bearer ${keys[project]}` } });
    const allowed = (await list('team-a')) as { status: number; json: { items: Array<{ name: string }> } };
    assert.equal(allowed.status, 200);
    assert.deepEqual(
      allowed.json.items.map((f) => f.name),
      ['hello'],
    );
    assert.match(String(((await list('team-b')) as { error?: string }).error), /Failed to fetch/);
  });
});
