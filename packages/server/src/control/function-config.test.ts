import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FUNCTION_DEFAULTS, isFaasError } from '@faas/core';
import { resolveConfig, sameConfig } from './function-config.ts';

function problems(fn: () => unknown): Array<{ field: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(isFaasError(err));
    assert.equal(err.status, 422);
    return err.details as Array<{ field: string }>;
  }
  assert.fail('expected a validation error');
}

describe('resolveConfig', () => {
  it('fills defaults', () => {
    const c = resolveConfig({ runtime: 'ts' });
    assert.equal(c.handler, 'index.default');
    assert.equal(c.timeoutMs, FUNCTION_DEFAULTS.timeoutMs);
    assert.deepEqual(c.routes, []);
    assert.equal(resolveConfig({ runtime: 'python' }).handler, 'main.handler');
  });

  it('parses routes given as strings or objects', () => {
    const c = resolveConfig({ runtime: 'js', routes: ['get /a/:id', { method: 'POST', path: '/a' }] });
    assert.deepEqual(c.routes, [
      { method: 'GET', path: '/a/:id' },
      { method: 'POST', path: '/a' },
    ]);
  });

  it('names every bad field at once', () => {
    const fields = problems(() =>
      resolveConfig({
        runtime: 'js',
        handler: 'nodot',
        env: { 'BAD-NAME': 'x' },
        routes: ['FETCH /x', 'GET /api/v1/functions', 'GET /ok', 'GET /ok/'],
      }),
    ).map((p) => p.field);
    assert.deepEqual(fields, ['routes[0]', 'routes[1].path', 'routes[3]', 'handler', 'env.BAD-NAME']);
  });

  it('refuses a route path that names one parameter twice', () => {
    const details = problems(() =>
      resolveConfig({ runtime: 'js', routes: ['GET /a/:x/:x', 'GET /b/:x/:y', 'GET /c/:x/x'] }),
    );
    assert.deepEqual(details, [
      { field: 'routes[0].path', message: 'names the parameter ":x" twice: each needs its own name' },
    ]);
  });

  it("refuses a route under a worker's internal API", () => {
    const fields = problems(() =>
      resolveConfig({
        runtime: 'js',
        routes: ['POST /internal/v1/prepare', 'ANY /internal/*', 'GET /internals'],
      }),
    ).map((p) => p.field);
    assert.deepEqual(fields, ['routes[0].path', 'routes[1].path']);
  });

  it("holds js and ts to one isolate host's share of the isolate budget", () => {
    const caps = { memoryMb: 1024, maxConcurrency: 100, isolateMemoryMb: 128 };
    for (const runtime of ['js', 'ts'] as const) {
      const details = problems(() => resolveConfig({ runtime, memoryMb: 256 }, undefined, caps));
      assert.deepEqual(
        details.map((d) => d.field),
        ['memoryMb'],
      );
      assert.match(JSON.stringify(details), /at most 128 .*FAAS_ISOLATE_MEMORY_MB/);
    }
    assert.equal(resolveConfig({ runtime: 'node', memoryMb: 256 }, undefined, caps).memoryMb, 256);
  });

  it('moves a container function to js without its isolation and network, which js refuses', () => {
    const base = resolveConfig({ runtime: 'node', isolation: 'gvisor', network: true });
    const moved = resolveConfig({ runtime: 'js' }, base);
    assert.equal(moved.isolation, undefined);
    assert.equal(moved.network, undefined);
    assert.equal(resolveConfig({ runtime: 'python' }, base).isolation, 'gvisor');
    assert.deepEqual(
      problems(() => resolveConfig({ runtime: 'js', isolation: 'gvisor' }, base)).map((p) => p.field),
      ['isolation'],
    );
  });

  it('refuses two routes of one function that match the same requests', () => {
    const details = problems(() =>
      resolveConfig({ runtime: 'js', routes: ['GET /users/:id', 'GET /users/:uid', 'GET /a', 'GET /a/'] }),
    ) as Array<{ field: string; message: string }>;
    assert.deepEqual(
      details.map((d) => d.field),
      ['routes[1]', 'routes[3]'],
    );
    assert.match(details[0]?.message ?? '', /same requests as routes\[0\]/);
  });

  it("holds memoryMb and maxConcurrency to the operator's caps, naming them", () => {
    const caps = { memoryMb: 256, maxConcurrency: 10, isolateMemoryMb: 256 };
    const details = problems(() =>
      resolveConfig({ runtime: 'js', memoryMb: 512, maxConcurrency: 11 }, undefined, caps),
    ) as Array<{ field: string; message: string }>;
    assert.deepEqual(details, [
      { field: 'memoryMb', message: "must be at most 256, this server's cap (FAAS_MAX_FUNCTION_MEMORY_MB)" },
      {
        field: 'maxConcurrency',
        message: "must be at most 10, this server's cap (FAAS_MAX_FUNCTION_CONCURRENCY)",
      },
    ]);
    assert.equal(
      resolveConfig({ runtime: 'js', memoryMb: 256, maxConcurrency: 10 }, undefined, caps).memoryMb,
      256,
    );
    // A patch keeps the base's fields, and the new version must obey the caps in force now.
    const base = resolveConfig({ runtime: 'js', memoryMb: 1024, maxConcurrency: 5 });
    assert.deepEqual(
      problems(() => resolveConfig({ description: 'x' }, base, caps)).map((p) => p.field),
      ['memoryMb'],
    );
  });

  it('holds a container function to the memory its runtime needs to start, naming the minimum', () => {
    // Measured: a node agent peaks near 24 MB at start under runc and 43 MB under gVisor, python
    // near 19 and 38, go near 9 and 27: below that the container dies before it says hello.
    for (const [runtime, extra] of [
      ['node', {}],
      ['python', {}],
      ['go', {}],
      ['image', { image: 'x', command: 'true' }],
    ] as const) {
      const details = problems(() => resolveConfig({ runtime, memoryMb: 16, ...extra })) as Array<{
        field: string;
        message: string;
      }>;
      assert.deepEqual(
        details.map((d) => d.field),
        ['memoryMb'],
        runtime,
      );
      assert.match(details[0]?.message ?? '', new RegExp(`must be at least \\d+ for ${runtime}`));
    }
    assert.equal(resolveConfig({ runtime: 'node', memoryMb: 64 }).memoryMb, 64);
    assert.equal(resolveConfig({ runtime: 'python', memoryMb: 64 }).memoryMb, 64);
    // An isolate or a wasm module needs no process of its own: 8 MB stays allowed.
    assert.equal(resolveConfig({ runtime: 'js', memoryMb: 8 }).memoryMb, 8);
    assert.equal(resolveConfig({ runtime: 'wasm', memoryMb: 8 }).memoryMb, 8);
    // A patch to a version stored below the minimum must raise it.
    const old = { ...resolveConfig({ runtime: 'node' }), memoryMb: 16 };
    assert.deepEqual(
      problems(() => resolveConfig({ description: 'x' }, old)).map((p) => p.field),
      ['memoryMb'],
    );
  });

  it('caps each env value and all env together, in every runtime, naming the field', () => {
    // An image function's shim exports each entry: one over 128 KiB (MAX_ARG_STRLEN) made every
    // call fail with "Argument list too long".
    for (const [runtime, extra] of [
      ['js', {}],
      ['node', {}],
      ['image', { image: 'x', command: 'true' }],
    ] as const) {
      const big = problems(() =>
        resolveConfig({ runtime, env: { OK: 'x', BIG: 'x'.repeat(200_000) }, ...extra }),
      );
      assert.deepEqual(
        big.map((p) => p.field),
        ['env.BIG'],
        runtime,
      );
      // Each value under the cap, but together too many bytes.
      const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`V${i}`, 'x'.repeat(60_000)]));
      assert.deepEqual(
        problems(() => resolveConfig({ runtime, env: many, ...extra })).map((p) => p.field),
        ['env'],
        runtime,
      );
    }
    assert.equal(resolveConfig({ runtime: 'node', env: { A: 'x'.repeat(60_000) } }).env.A?.length, 60_000);
  });

  it('refuses a NUL byte in an env value or an image command: no runtime could pass it on whole', () => {
    // The js runtime saw "x\0y", a node container "x": exec ends a string at the NUL.
    for (const runtime of ['js', 'node'] as const) {
      assert.deepEqual(
        problems(() => resolveConfig({ runtime, env: { A: 'x\u0000y', B: 'fine' } })),
        [{ field: 'env.A', message: 'must not hold a NUL byte' }],
        runtime,
      );
    }
    const image = { runtime: 'image', image: 'x' } as const;
    assert.deepEqual(
      problems(() => resolveConfig({ ...image, command: 'echo a\u0000b' })).map((p) => p.field),
      ['command'],
    );
    assert.deepEqual(
      problems(() => resolveConfig({ ...image, command: ['echo', 'a\u0000b'] })).map((p) => p.field),
      ['command[1]'],
    );
  });

  it('requires an image and a command for the image runtime', () => {
    assert.deepEqual(
      problems(() => resolveConfig({ runtime: 'image' })).map((p) => p.field),
      ['image', 'command'],
    );
    assert.deepEqual(
      problems(() => resolveConfig({ runtime: 'image', image: 'x', command: [] })).map((p) => p.field),
      ['command'],
    );
    assert.equal(resolveConfig({ runtime: 'image', image: 'x', command: ['true'] }).image, 'x');
  });

  it('keeps the base version for fields a patch leaves out', () => {
    const base = resolveConfig({ runtime: 'js', timeoutMs: 500, env: { A: '1' } });
    const patched = resolveConfig({ memoryMb: 64 }, base);
    assert.equal(patched.timeoutMs, 500);
    assert.equal(patched.memoryMb, 64);
    assert.deepEqual(patched.env, { A: '1' });
    assert.ok(!sameConfig(base, patched));
    assert.ok(sameConfig(base, resolveConfig({ runtime: 'js', env: { A: '1' }, timeoutMs: 500 })));
  });

  it('keeps secret names once, sorted (order makes no version), and refuses names that are not env names', () => {
    const config = resolveConfig({ runtime: 'js', secrets: ['B_TOKEN', 'A_KEY', 'B_TOKEN'] });
    assert.deepEqual(config.secrets, ['A_KEY', 'B_TOKEN']);
    assert.equal(resolveConfig({ runtime: 'js', secrets: [] }).secrets, undefined);
    assert.deepEqual(resolveConfig({ runtime: 'js' }, config).secrets, ['A_KEY', 'B_TOKEN'], 'kept by PATCH');
    assert.throws(
      () => resolveConfig({ runtime: 'js', secrets: ['ok', 'not-ok', '9x'] }),
      (err) =>
        isFaasError(err) &&
        JSON.stringify(err.details).includes('secrets[1]') &&
        JSON.stringify(err.details).includes('secrets[2]'),
    );
    assert.throws(
      () => resolveConfig({ runtime: 'js', secrets: Array.from({ length: 65 }, (_, i) => `S${i}`) }),
      /secrets must name at most 64/,
    );
  });
});
