import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import { MemoryBlobStore } from '@faas/testkit';
import { createIsolateRuntime, type IsolateRuntime } from './isolate-runtime.ts';
import { deployScript, EVAL_SCRIPT, invoke, resultOf } from './test-helpers.ts';

describe('what a function can reach inside its isolate', () => {
  const blobs = new MemoryBlobStore();
  let runtime: IsolateRuntime;
  let fn: FunctionVersion;
  const run = async (code: string) => resultOf((await invoke(runtime, fn, code)).outcome);
  const logsOf = async (code: string) => {
    const { outcome, logs } = await invoke(runtime, fn, code);
    resultOf(outcome);
    return logs;
  };

  before(async () => {
    runtime = createIsolateRuntime({ blobs });
    fn = await deployScript(blobs, EVAL_SCRIPT, { timeoutMs: 5000 });
  });
  after(() => runtime.close());

  it('has no Node, network, file system or host internals', async () => {
    const names = [
      'require',
      'fetch',
      'Buffer',
      'module',
      'gc',
      'XMLHttpRequest',
      'WebSocket',
      'WebAssembly',
    ];
    assert.deepEqual(
      await run(`[${names.map((n) => `typeof ${n}`).join(', ')}]`),
      names.map(() => 'undefined'),
    );
    assert.equal(await run('typeof __faasInstall'), 'undefined');
    // `process` holds the function's env and nothing else of Node's.
    assert.deepEqual(await run('Object.keys(process)'), ['env']);
  });

  it('offers the documented web-standard helpers', async () => {
    const names = [
      'console',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'queueMicrotask',
      'TextEncoder',
      'TextDecoder',
      'URL',
      'URLSearchParams',
      'atob',
      'btoa',
      'structuredClone',
      'crypto',
      'DOMException',
    ];
    assert.deepEqual(await run(`[${names.map((n) => `typeof ${n}`).join(', ')}]`), [
      'object',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'function',
      'object',
      'function',
    ]);
  });

  it('encodes and decodes UTF-8, replacing invalid bytes and joining streamed chunks', async () => {
    assert.deepEqual(
      await run('Array.from(new TextEncoder().encode("aé€😀"))'),
      [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80],
    );
    assert.equal(
      await run('new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82]))'),
      'a\uFFFDé\uFFFD',
    );
    assert.equal(
      await run(`(() => { const d = new TextDecoder(); const b = new TextEncoder().encode('😀!');
        return d.decode(b.subarray(0, 2), { stream: true }) + d.decode(b.subarray(2)); })()`),
      '😀!',
    );
    assert.equal(await run('new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]))'), 'A');
    assert.equal(
      await run(
        '(() => { try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { return e.name; } })()',
      ),
      'TypeError',
    );
    assert.deepEqual(await run('new TextEncoder().encodeInto("aé", new Uint8Array(2))'), {
      read: 1,
      written: 1,
    });
  });

  it('has atob and btoa that match the platform', async () => {
    const samples = ['', 'a', 'ab', 'abc', 'hello, world', '\u00ff\u0000\u0080'];
    assert.deepEqual(
      await run(`${JSON.stringify(samples)}.map((s) => btoa(s))`),
      samples.map((s) => btoa(s)),
    );
    assert.deepEqual(
      await run(`${JSON.stringify(samples.map((s) => btoa(s)))}.map((s) => atob(s))`),
      samples,
    );
    assert.equal(await run('atob(" YW J j ")'), 'abc');
    assert.equal(
      await run('(() => { try { atob("a"); } catch (e) { return e.name; } })()'),
      'InvalidCharacterError',
    );
    assert.equal(
      await run('(() => { try { btoa("€"); } catch (e) { return e.name; } })()'),
      'InvalidCharacterError',
    );
  });

  it('structuredClone copies deeply, keeps cycles and rejects functions', async () => {
    assert.deepEqual(
      await run(`(() => {
        const a = { d: new Date(5), m: new Map([[1, { x: 1 }]]), s: new Set([2]), b: new Uint8Array([1, 2]) };
        a.self = a;
        const c = structuredClone(a);
        return [c !== a, c.self === c, c.d.getTime(), c.m.get(1).x, c.m.get(1) !== a.m.get(1), c.s.has(2), Array.from(c.b)];
      })()`),
      [true, true, 5, 1, true, true, [1, 2]],
    );
    assert.equal(
      await run('(() => { try { structuredClone({ f() {} }); } catch (e) { return e.name; } })()'),
      'DataCloneError',
    );
  });

  it('parses URLs like the WHATWG standard and keeps searchParams in step', async () => {
    assert.deepEqual(
      await run(`(() => {
        const u = new URL('../b?x=1&y=a+b#h', 'https://user:pw@example.com:8443/a/c');
        return [u.href, u.origin, u.host, u.pathname, u.searchParams.get('y'), u.hash, u.username];
      })()`),
      [
        'https://user:pw@example.com:8443/b?x=1&y=a+b#h',
        'https://example.com:8443',
        'example.com:8443',
        '/b',
        'a b',
        '#h',
        'user',
      ],
    );
    assert.equal(
      await run(`(() => { const u = new URL('https://a.test/p?q=1'); u.searchParams.append('r', 'x y&z');
        u.searchParams.delete('q'); u.pathname = '/new path'; return u.toString(); })()`),
      'https://a.test/new%20path?r=x+y%26z',
    );
    assert.equal(
      await run(`(() => { try { new URL('not a url'); } catch (e) { return e.code; } })()`),
      'ERR_INVALID_URL',
    );
    assert.deepEqual(await run('[URL.canParse("https://x"), URL.canParse("nope")]'), [true, false]);
    assert.equal(await run('new URLSearchParams({ a: "1", b: "é" }).toString()'), 'a=1&b=%C3%A9');
  });

  it('has crypto.randomUUID and getRandomValues fed by the host', async () => {
    const [a, b] = (await run('[crypto.randomUUID(), crypto.randomUUID()]')) as string[];
    assert.match(a ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a, b);
    const bytes = (await run('Array.from(crypto.getRandomValues(new Uint8Array(64)))')) as number[];
    assert.equal(bytes.length, 64);
    assert.ok(new Set(bytes).size > 16, 'random-looking bytes');
    assert.equal(
      await run(
        '(() => { try { crypto.getRandomValues(new Uint8Array(65537)); } catch (e) { return e.name; } })()',
      ),
      'QuotaExceededError',
    );
  });

  it('seeds Math.random per isolate, although all start from one snapshot', async () => {
    const other = await deployScript(blobs, EVAL_SCRIPT);
    const a = resultOf((await invoke(runtime, fn, 'Math.random()')).outcome);
    const b = resultOf((await invoke(runtime, other, 'Math.random()')).outcome);
    assert.notEqual(a, b);
  });

  it('runs timers and intervals within the invocation', async () => {
    // Ordered by cause, not by racing delays: a cleared timer never fires, a microtask runs before
    // any timer, and the last timer is set by the interval's final tick.
    assert.deepEqual(
      await run(`new Promise((resolve) => {
        const seen = [];
        const cancelled = setTimeout(() => seen.push('cancelled'), 1);
        clearTimeout(cancelled);
        setTimeout((x) => seen.push(x), 1, 'timeout');
        let n = 0;
        const i = setInterval(() => {
          seen.push('tick');
          if (++n === 3) {
            clearInterval(i);
            setImmediate(() => resolve([...seen, 'done']));
          }
        }, 2);
        queueMicrotask(() => seen.push('micro'));
      })`),
      ['micro', 'timeout', 'tick', 'tick', 'tick', 'done'],
    );
  });

  it('fails the invocation on an uncaught error in a timer', async () => {
    const { outcome } = await invoke(
      runtime,
      fn,
      'new Promise(() => setTimeout(() => { throw new RangeError("in a timer"); }, 1))',
    );
    assert.equal(outcome.status, 'failed');
    assert.deepEqual(outcome.status === 'failed' && [outcome.error.type, outcome.error.message], [
      'RangeError',
      'in a timer',
    ]);
  });

  it('formats console arguments the way Node does for common values', async () => {
    const logs = await logsOf(`
      console.log('%s is %d years and %j', 'Ada', 36.5, { a: 1 });
      console.log({ a: 1, b: 'two', c: [1, 2, { d: null }], e: undefined }, [], {});
      console.info(new Map([['k', 1]]), new Set([1]), 10n, Symbol('s'), () => {}, -0);
      const o = { name: 'loop' }; o.self = o; console.warn(o);
      console.error(new TypeError('bad thing').message, { deep: { deeper: { deepest: { gone: 1 } } } });
      console.debug('multi\\nline');
      0`);
    assert.deepEqual(logs, [
      { level: 'log', message: 'Ada is 36.5 years and {"a":1}' },
      { level: 'log', message: "{ a: 1, b: 'two', c: [ 1, 2, { d: null } ], e: undefined } [] {}" },
      { level: 'info', message: "Map(1) { 'k' => 1 } Set(1) { 1 } 10n Symbol(s) [Function (anonymous)] -0" },
      { level: 'warn', message: "{ name: 'loop', self: [Circular] }" },
      { level: 'error', message: 'bad thing { deep: { deeper: { deepest: [Object] } } }' },
      { level: 'debug', message: 'multi\nline' },
    ]);
  });

  it('gives the context its logger', async () => {
    const logs = await logsOf('context.log("via", "context"), context.log.warn("careful"), 0');
    assert.deepEqual(logs, [
      { level: 'info', message: 'via context' },
      { level: 'warn', message: 'careful' },
    ]);
  });
});

describe('two functions with the same code', () => {
  const blobs = new MemoryBlobStore();
  let runtime: IsolateRuntime;
  before(() => {
    runtime = createIsolateRuntime({ blobs });
  });
  after(() => runtime.close());

  it("each one's stack trace names itself, never the other (another project's name is not its to see)", async () => {
    // One artifact (the same bytes, one sha256) deployed under two names, both warm at once.
    const script = 'var __faas = { default: async () => { throw new Error("boom"); } };';
    const first = await deployScript(blobs, script, { name: 'team-a.private' });
    const second = await deployScript(blobs, script, { name: 'team-b.hello' });
    assert.equal(first.artifactSha256, second.artifactSha256);
    const stackOf = async (fn: FunctionVersion) => {
      const { outcome } = await invoke(runtime, fn);
      assert.equal(outcome.status, 'failed');
      return outcome.status === 'failed' ? (outcome.error.stack ?? '') : '';
    };
    assert.match(await stackOf(first), /file:\/\/\/team-a\.private\//);
    const stack = await stackOf(second);
    assert.match(stack, /file:\/\/\/team-b\.hello\//);
    assert.doesNotMatch(stack, /team-a/);
  });
});
