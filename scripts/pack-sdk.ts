/**
 * Builds @faas/sdk as the package users install: ESM JavaScript and .d.ts (tsc, for Node 20 and
 * later and bundlers) with a package.json whose exports point at them, packed by `npm pack`.
 * The workspace's own package.json points at the TypeScript sources, which only Node 24's type
 * stripping runs, so the published one is written here rather than kept beside it.
 *
 *   node scripts/pack-sdk.ts [out-dir]   prints the tarball's path
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SDK = join(ROOT, 'packages/sdk');

export function packSdk(outDir: string): string {
  const staging = mkdtempSync(join(tmpdir(), 'faas-sdk-pack-'));
  try {
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(SDK, 'tsconfig.build.json'),
        '--outDir',
        join(staging, 'dist'),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const source = JSON.parse(readFileSync(join(SDK, 'package.json'), 'utf8')) as Record<string, unknown>;
    const { private: _private, exports: _exports, ...fields } = source;
    const manifest = {
      ...fields,
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
      types: './dist/index.d.ts',
      files: ['dist', 'README.md'],
      sideEffects: false,
      engines: { node: '>=20' },
      // Only `stream` on a runtime without a global WebSocket (Node 20) needs it, passed in by the user.
      peerDependencies: { ws: '>=8' },
      peerDependenciesMeta: { ws: { optional: true } },
    };
    writeFileSync(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    copyFileSync(join(SDK, 'README.md'), join(staging, 'README.md'));
    mkdirSync(outDir, { recursive: true });
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', resolve(outDir)], {
      cwd: staging,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const name = out.trim().split('\n').at(-1) ?? '';
    return join(resolve(outDir), name);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (import.meta.main) console.log(packSdk(process.argv[2] ?? '.'));
