import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

/** Debian's chromium (.ci/run installs it): no browser download works here. */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium; .ci/run does)`;

const BROKEN = 'export default async (event) => {\n  const x = ;\n  return { hello: event.name };\n};\n';
const FIXED =
  'export default async (event) => {\n  console.log("greeting", event.name);\n  return { hello: event.name };\n};\n';

/**
 * What functions run in the page (waitForFunction: its CSP refuses strings) use of its document:
 * this file is type-checked without the DOM's types. Inline in each function: only its source
 * goes to the page.
 */
interface PageGlobal {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  };
}

/** Replaces what a CodeMirror editor holds, as a user's paste would. */
async function setEditor(page: Page, label: string, text: string): Promise<void> {
  const editor = page.locator(`.cm-content[aria-label="${label}"]`);
  await editor.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

describe('the web console in a real browser', { skip }, () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  /** Every path the page asked its server for, in order. */
  const requested: string[] = [];
  const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

  before(async () => {
    s = await startTestServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    // CI runs this beside the other test files on two cores: waits are generous, never timed.
    page.setDefaultTimeout(60_000);
    // The console makes no request anywhere but its own server.
    page.on('request', (request) => {
      const url = new URL(request.url());
      requested.push(url.pathname);
      if (url.protocol !== 'data:' && url.origin !== s.url && url.origin !== s.url.replace('http', 'ws')) {
        assert.fail(`a request outside the server: ${request.url()}`);
      }
    });
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('signs in with a key; the browser keeps only an HttpOnly cookie', async () => {
    await page.goto(`${s.url}/`);
    await page.getByLabel('API key').waitFor();
    await shot('sign-in');
    await page.getByLabel('API key').fill('faas_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid or revoked API key' }).waitFor();
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    const stored = await page.evaluate<string>(
      'JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie',
    );
    assert.ok(!stored.includes(ADMIN_KEY), 'the key is nowhere the page can read');
    const cookies = await page.context().cookies();
    assert.deepEqual(
      cookies.map((c) => [c.name, c.httpOnly, c.sameSite]),
      [['faas_session', true, 'Strict']],
    );
  });

  it('shows a compile error at its line, then deploys the fix', async () => {
    await page.getByRole('link', { name: 'New function' }).click();
    await page.getByLabel('Name').fill('e2e-hello');
    await page.locator('.editor[data-ready="true"]').waitFor();
    await setEditor(page, 'Function code', BROKEN);
    await page.getByRole('button', { name: 'Deploy' }).click();
    const alert = page.locator('.compile-error');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /line 2\b/);
    // The editor marks line 2 (the lint gutter's marker sits on that line's gutter element).
    // (Page scripts are strings: this file is type-checked without the DOM's types.)
    const marked = await page.evaluate<string | undefined>(`(() => {
      const gutter = document.querySelector('.cm-lint-marker-error')?.closest('.cm-gutterElement');
      const lines = [...document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')];
      return lines.find((l) => gutter && Math.abs(l.offsetTop - gutter.offsetTop) < 2)?.textContent;
    })()`);
    assert.equal(marked, '2');
    await shot('deploy-compile-error');
    await setEditor(page, 'Function code', FIXED);
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.getByRole('heading', { name: 'e2e-hello' }).waitFor();
  });

  it('invokes it: the result, the log line through the live stream, the chart from the stats route', async () => {
    // The tail follows the function's SSE stream; it is subscribed once the stream says live.
    await page.getByRole('button', { name: 'Follow logs' }).click();
    await page.locator('[data-status="live"]').waitFor();
    await page.locator('.invoke .editor[data-ready="true"]').waitFor();
    await setEditor(page, 'Event (JSON)', '{ "name": "browser" }');
    await page.getByRole('button', { name: 'Invoke' }).click();
    const outcome = page.locator('.outcome');
    await outcome.locator('.logs').waitFor();
    assert.match((await outcome.locator('.result').textContent()) ?? '', /"hello":\s*"browser"/);
    assert.match((await outcome.locator('.logs').textContent()) ?? '', /greeting browser/);
    assert.match((await outcome.textContent()) ?? '', /^200 · [\d.]+ m?s/);
    // The live tail: the invocation's start, its line and its end, from the stream.
    const tail = page.locator('pre.tail');
    await tail.locator('.tail-end').filter({ hasText: 'end succeeded' }).waitFor();
    assert.match(
      (await tail.textContent()) ?? '',
      /▶ start v1 \(sync, api\)\n.*log\tgreeting browser\n.*■ end succeeded/,
    );
    // The chart counts it, from the stats the API serves.
    await page.locator('[data-testid="calls-total"]').filter({ hasText: /^1$/ }).waitFor();
    assert.ok(requested.includes('/api/v1/functions/e2e-hello/stats'), 'the chart reads the stats route');
    const bars =
      (await page.getByRole('img', { name: /^Invocations per minute/ }).getAttribute('aria-label')) ?? '';
    assert.match(bars, /: 1 calls, 0 errors in all/);
    // A thrown error: its type, message and stack; the tail shows the failed end, the chart the error.
    await setEditor(page, 'Event (JSON)', 'null');
    await page.getByRole('button', { name: 'Invoke' }).click();
    const failure = page.locator('.outcome .error');
    await failure.waitFor();
    assert.match((await failure.textContent()) ?? '', /FAAS_ERR_FUNCTION_ERROR: .*TypeError|TypeError/);
    assert.match((await failure.locator('pre').textContent()) ?? '', /at /);
    await tail
      .locator('.tail-end.bad')
      .filter({ hasText: /end failed .*TypeError/ })
      .waitFor();
    await page.locator('[data-testid="errors-total"]').filter({ hasText: /^1$/ }).waitFor();
    assert.equal((await page.locator('[data-testid="calls-total"]').textContent()) ?? '', '2');
    await shot('function');
    // The day's view: the same calls by hour.
    await page.getByRole('button', { name: 'Day' }).click();
    await page.getByRole('img', { name: /^Invocations per hour: 2 calls, 1 errors/ }).waitFor();
    await page.getByRole('button', { name: 'Hour' }).click();
    await page.getByRole('img', { name: /^Invocations per minute/ }).waitFor();
    // Each line once, and the page never polled the logs.
    assert.equal(((await tail.textContent()) ?? '').match(/greeting browser/g)?.length, 1);
    assert.ok(requested.includes('/api/v1/logs/stream'));
    assert.ok(!requested.includes('/api/v1/logs'), 'the tail does not poll GET /api/v1/logs');
  });

  it('lists the invocation and opens its record', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Invocations' }).click();
    const rows = page.locator('tbody tr').filter({ hasText: 'e2e-hello' });
    await rows.filter({ hasText: 'failed' }).waitFor();
    const row = rows.filter({ hasText: 'succeeded' });
    await shot('invocations');
    // Filtered by status: only the failed one.
    await page.getByLabel('Status').selectOption('failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=failed/);
    await page.locator('tbody tr').filter({ hasText: 'succeeded' }).waitFor({ state: 'detached' });
    assert.equal(await page.locator('tbody tr').filter({ hasText: 'failed' }).count(), 1);
    await page.goBack();
    await row.getByRole('link').first().click();
    await page.locator('pre.logs').filter({ hasText: 'greeting browser' }).waitFor();
  });

  it('opens the deployed code to edit it, and rolls back to the earlier version', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Functions' }).click();
    await page.getByRole('link', { name: 'e2e-hello' }).click();
    await page.getByRole('button', { name: 'Deploy new code' }).click();
    const code = page.locator('.cm-content[aria-label="Function code"]');
    await code.filter({ hasText: 'console.log("greeting", event.name);' }).waitFor();
    await setEditor(page, 'Function code', 'export default async () => ({ hello: "v2" });\n');
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await page.locator('.badge').filter({ hasText: 'v2' }).waitFor();
    const v2 = await s.api('/api/v1/functions/e2e-hello/invoke', { method: 'POST', json: {} });
    assert.deepEqual(await v2.json(), { hello: 'v2' });
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.locator('.badge').filter({ hasText: 'v3' }).waitFor();
    const v3 = await s.api('/api/v1/functions/e2e-hello/invoke', { method: 'POST', json: { name: 'again' } });
    assert.deepEqual(await v3.json(), { hello: 'again' });
  });

  // On a fresh engine the first instance waits for its image to be built.
  const sandboxTest = { skip: engineSkipReason(), timeout: 600_000 };

  it('opens an instance terminal: echo hi prints hi', sandboxTest, async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Instances' }).click();
    await page.getByRole('button', { name: 'Start instance' }).click();
    await page.locator('[data-status="connected"]').waitFor({ timeout: 540_000 });
    await page.locator('.xterm').click();
    // The shell's prompt first, so what is typed goes to a shell that reads it.
    await page.waitForFunction(
      "(document.querySelector('.xterm-rows')?.textContent ?? '').trim().length > 0",
    );
    await page.keyboard.type('echo hi\n');
    await page.waitForFunction(() =>
      Array.from((globalThis as unknown as PageGlobal).document.querySelectorAll('.xterm-rows > div')).some(
        (row) => row.textContent?.trim() === 'hi',
      ),
    );
    await shot('instance-terminal');
    // Files: upload into /workspace, see it listed, download it with the session.
    await page.locator('input[type="file"]').setInputFiles({
      name: 'note.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('from the browser\n'),
    });
    const link = page.getByRole('link', { name: 'note.txt' });
    await link.waitFor();
    const href = (await link.getAttribute('href')) as string;
    const downloaded = await page.evaluate(async (url) => (await fetch(url)).text(), href);
    assert.equal(downloaded, 'from the browser\n');
    // A snapshot of it is listed.
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    await page.getByRole('button', { name: 'Restore' }).first().waitFor({ timeout: 90_000 });
    await shot('instance');
    const id = new URL(page.url()).pathname.split('/').pop() as string;
    assert.equal((await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
  });

  it('runs a command in a sandbox', sandboxTest, async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Execute' }).click();
    await page.getByLabel(/^Command/).fill('echo hello from $(uname -s)');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.locator('pre.stdout').filter({ hasText: 'hello from Linux' }).waitFor({ timeout: 540_000 });
  });

  it('creates an API key, shown once, and revokes it', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Keys' }).click();
    await page.getByLabel('Name').fill('from-the-console');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.locator('code.secret').textContent()) ?? '';
    assert.match(secret, /^faas_/);
    const key = await s.api('/api/v1/functions', { key: secret });
    assert.equal(key.status, 200, 'the key shown works');
    const row = page.locator('tbody tr').filter({ hasText: 'from-the-console' });
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await s.api('/api/v1/keys')).status, 200);
    await shot('keys');
  });

  it('fits a phone’s width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Functions' }).click();
    await page.getByRole('link', { name: 'e2e-hello' }).waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await shot('functions-phone');
    // A function's page too: its charts and tail scale down with it.
    await page.getByRole('link', { name: 'e2e-hello' }).click();
    await page.getByRole('img', { name: /^Invocations per minute/ }).waitFor();
    await page.getByRole('button', { name: 'Follow logs' }).click();
    await page.locator('[data-status="live"]').waitFor();
    const functionOverflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - window.innerWidth',
    );
    assert.ok(functionOverflow <= 0, `the function page is ${functionOverflow}px wider than the phone`);
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Functions' }).click();
    await page.getByRole('link', { name: 'e2e-hello' }).waitFor();
    await shot('functions');
  });

  it('signs out: the session is over', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/v1/functions')).status);
    assert.equal(status, 401);
  });

  it('walks the main flow with the keyboard: sign in, open a function, invoke it, sign out; focus shows', async () => {
    interface Focused {
      tag: string;
      id: string;
      text: string;
      outline: string;
    }
    const focused = () =>
      page.evaluate<Focused | null>(`(() => {
        const e = document.activeElement;
        if (!e || e === document.body) return null;
        const style = getComputedStyle(e);
        return { tag: e.tagName, id: e.id, text: (e.textContent ?? '').trim(), outline: style.outlineStyle + ' ' + style.outlineWidth };
      })()`);
    /** Presses `key` until the focused element's text is `text`; a keyboard user's walk. */
    const moveTo = async (text: string, key = 'Tab') => {
      for (let i = 0; i < 80; i++) {
        await page.keyboard.press(key);
        const now = await focused();
        if (now?.text === text) return now;
      }
      return assert.fail(`${key} never reached "${text}"`);
    };
    await page.goto(`${s.url}/`);
    await page.getByLabel('API key').waitFor();
    await page.keyboard.press('Tab');
    assert.deepEqual(await focused().then((f) => [f?.tag, f?.id]), ['INPUT', 'key']);
    await page.keyboard.type(ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    // The first stop is the skip link, shown while focused; Enter goes to the page's content.
    const skip = await moveTo('Skip to content');
    assert.equal(skip.outline, 'solid 2px', 'the skip link shows its ring');
    await page.keyboard.press('Enter');
    const link = await moveTo('e2e-hello');
    assert.equal(link.outline, 'solid 2px', 'a focused link shows its ring');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'e2e-hello' }).waitFor();
    // Focus went to the new page's content: the next Tabs walk this page, not the old one.
    const invoke = await moveTo('Invoke');
    assert.equal(invoke.outline, 'solid 2px', 'a focused button shows its ring');
    await page.keyboard.press('Enter');
    await page
      .locator('.outcome')
      .filter({ hasText: /^\d{3} · / })
      .waitFor();
    // Still on the button (a disabled one drops focus to the page's start while it is busy).
    assert.deepEqual(await focused().then((f) => [f?.text, f?.outline]), ['Invoke', 'solid 2px']);
    await shot('keyboard-focus');
    await moveTo('Sign out', 'Shift+Tab');
    await page.keyboard.press('Enter');
    await page.getByLabel('API key').waitFor();
  });
});
