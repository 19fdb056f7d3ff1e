import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { packFolder, packIgnores, tarFolder } from './pack.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A folder with these files (path → text); a value `{ link }` is a symlink to that target. */
function folder(files: Record<string, string | { link: string }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'faas-pack-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    if (typeof content === 'string') writeFileSync(join(dir, path), content);
    else symlinkSync(content.link, join(dir, path));
  }
  return dir;
}

async function namesIn(tarBytes: Buffer): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    names.push(header.name);
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(tarBytes);
  await done;
  return names.sort();
}

const SECRETS = {
  'index.js': 'export default () => 1;\n',
  '.env': 'TOKEN=secret\n',
  '.env.production': 'TOKEN=secret\n',
  '.env.example': 'TOKEN=\n',
  '.npmrc': '//registry.npmjs.org/:_authToken=npm_secret\n',
  '.aws/credentials': '[default]\naws_secret_access_key=x\n',
  'certs/server.key': 'key',
  'certs/server.pem': 'pem',
  id_rsa: 'key',
  'lib/__pycache__/mod.cpython-312.pyc': 'bytecode',
  '.pytest_cache/v/cache/lastfailed': '{}',
  '.DS_Store': 'junk',
  'lib/util.js': 'export const x = 1;\n',
  'node_modules/dep/index.js': 'dep',
};

describe('packing a function folder', () => {
  it('leaves secrets and caches out by default and says which', async () => {
    const dir = folder(SECRETS);
    const packed = await packFolder(dir);
    const names = await namesIn(gunzipSync(Buffer.from(packed.archive, 'base64')));
    assert.deepEqual(names, ['.env.example', 'index.js', 'lib/util.js']);
    assert.deepEqual(packed.leftOut, [
      '.DS_Store',
      '.aws/',
      '.env',
      '.env.production',
      '.npmrc',
      '.pytest_cache/',
      'certs/server.key',
      'certs/server.pem',
      'id_rsa',
      'lib/__pycache__/',
    ]);
  });

  it('applies .faasignore: patterns, folders, anchoring and ! bringing back a default', async () => {
    const dir = folder({
      'index.js': '1',
      '.faasignore': '# tests are not shipped\ntest/\n/local.json\n*.log\n!keep.log\n!.npmrc\n',
      'test/a.test.js': '1',
      'src/test/helper.js': '1',
      'local.json': '1',
      'src/local.json': '1',
      'debug.log': '1',
      'keep.log': '1',
      '.npmrc': 'registry=https://registry.example/\n',
    });
    const packed = await packFolder(dir);
    const names = await namesIn(gunzipSync(Buffer.from(packed.archive, 'base64')));
    assert.deepEqual(names, ['.faasignore', '.npmrc', 'index.js', 'keep.log', 'src/local.json']);
    // Only the default list's choices are printed: the user's own file says what it leaves out.
    assert.deepEqual(packed.leftOut, []);
  });

  it('reports symlinks and special files it skips instead of dropping them silently', async () => {
    const dir = folder({ 'index.js': '1', 'passwd.txt': { link: '/etc/passwd' }, lib: { link: '/tmp' } });
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const packed = await packFolder(dir);
    assert.equal(packed.files, 1);
    assert.deepEqual(packed.skipped, [
      'lib (a symlink)',
      'passwd.txt (a symlink)',
      'pipe (not a regular file)',
    ]);
  });

  it('refuses a folder over the size limit before reading any file', async () => {
    const dir = folder({ 'index.js': '1', 'big.bin': 'x'.repeat(2048) });
    await assert.rejects(packFolder(dir, { maxBytes: 1024 }), (err: Error & { exitCode?: number }) => {
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /2049 bytes.*over.*1024/);
      return true;
    });
  });
});

describe('what faas dev ignores', () => {
  it('is what deploy leaves out: dependencies, the default list and .faasignore', () => {
    const dir = folder({ 'index.js': '1', '.faasignore': 'scratch/\n', 'scratch/a.txt': '1', 'out/x': '1' });
    const ignores = packIgnores(dir);
    const paths = [
      'index.js',
      'node_modules/x/y.js',
      '.env',
      'lib/__pycache__/m.pyc',
      'scratch',
      'scratch/a.txt',
      'out/x',
    ];
    assert.deepEqual(
      paths.filter((p) => ignores(p)),
      ['node_modules/x/y.js', '.env', 'lib/__pycache__/m.pyc', 'scratch', 'scratch/a.txt'],
    );
  });
});

describe('an image build context', () => {
  it('honours .dockerignore (Docker syntax: anchored) and the default list, and keeps the Dockerfile', async () => {
    const dir = folder({
      Dockerfile: 'FROM scratch\nCOPY . .\n',
      '.dockerignore': 'Dockerfile\n*.md\ndata\n!data/keep.csv\n',
      '.env': 'TOKEN=secret\n',
      'README.md': 'top',
      'docs/guide.md': 'nested: *.md is anchored in a .dockerignore',
      'data/big.csv': '1',
      'data/keep.csv': '1',
      'app.py': '1',
    });
    const context = await tarFolder(dir, { image: true });
    assert.deepEqual(await namesIn(context.tar), [
      '.dockerignore',
      'Dockerfile',
      'app.py',
      'data/keep.csv',
      'docs/guide.md',
    ]);
  });
});
