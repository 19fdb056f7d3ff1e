import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { packSdk } from '../../scripts/pack-sdk.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

/**
 * @faas/sdk as users get it: packed into a tarball, installed in a folder outside the workspace,
 * imported by plain JavaScript under Node 20 and Node 24, bundled by esbuild, type-checked by tsc.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
const HERE = new URL('./package/', import.meta.url).pathname;

/** A `node` on PATH that is not this one (the machine's Node 20 beside node_modules' Node 24). */
function otherNode(): { path: string; major: number } | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'node');
    if (dir.includes('node_modules')) continue;
    try {
      const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
      const major = Number(version.slice(1).split('.')[0]);
      if (major !== Number(process.versions.node.split('.')[0])) return { path, major };
    } catch {
      // not there
    }
  }
  return undefined;
}

const node20 = otherNode();
const withSandbox = engineSkipReason() === false;

describe('the packed @faas/sdk', () => {
  let s: TestServer;
  let app: string;

  // Asynchronously: the server answering the consumer runs on this process's event loop.
  const run = async (nodePath: string, script: string, env: Record<string, string> = {}) => {
    const { stdout } = await promisify(execFile)(nodePath, [script], {
      cwd: app,
      encoding: 'utf8',
      timeout: 100_000,
      env: {
        PATH: process.env.PATH ?? '',
        FAAS_URL: s.url,
        FAAS_API_KEY: ADMIN_KEY,
        WITH_SANDBOX: withSandbox ? '1' : '0',
        ...env,
      },
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  before(async () => {
    app = mkdtempSync(join(tmpdir(), 'faas-sdk-user-'));
    const tarball = packSdk(join(app, 'pack'));
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }),
    );
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], {
      cwd: app,
      stdio: 'ignore',
    });
    copyFileSync(join(HERE, 'consumer.mjs'), join(app, 'consumer.mjs'));
    copyFileSync(join(HERE, 'consumer.ts'), join(app, 'consumer.ts'));
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
    rmSync(app, { recursive: true, force: true });
  });

  it('ships JavaScript and declarations only, without the workspace sources', () => {
    const files = readdirSync(join(app, 'node_modules/@faas/sdk'), { recursive: true }).map(String);
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join(', '));
    assert.ok(files.includes('README.md'));
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'TypeScript sources were packed',
    );
  });

  const expected = (major: number) => ({
    node: undefined as unknown,
    health: 'ok',
    invoke: { hi: 'Ada' },
    error: [404, 'FAAS_ERR_FUNCTION_NOT_FOUND'],
    ...(withSandbox ? { execute: ['Hello!\n', 3], stream: ['streamed\n', 7], closed: true } : {}),
    major,
  });
  const check = (seen: Record<string, unknown>, major: number) => {
    assert.deepEqual(
      { ...seen, node: undefined, major: Number(String(seen.node).split('.')[0]) },
      expected(major),
    );
  };

  it('runs under Node 24', async () => {
    check(await run(process.execPath, 'consumer.mjs'), 24);
  });

  it('runs under Node 20, its stream on the ws package', {
    skip: node20 ? false : 'no other node on PATH',
  }, async () => {
    const ws = pathToFileURL(join(ROOT, 'node_modules/ws/wrapper.mjs')).href;
    check(await run(node20?.path ?? '', 'consumer.mjs', { WS_MODULE: ws }), node20?.major ?? 0);
  });

  it('bundles with esbuild, and the bundle runs', async () => {
    await build({
      entryPoints: [join(app, 'consumer.mjs')],
      outfile: join(app, 'bundle.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      absWorkingDir: app,
      logLevel: 'silent',
    });
    const seen = await run(process.execPath, 'bundle.mjs', { RUN_NAME: 'bundled' });
    assert.deepEqual(seen.invoke, { hi: 'Ada' });
  });

  it('type-checks a TypeScript user against its declarations', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], {
      cwd: app,
      encoding: 'utf8',
    });
  });
});
