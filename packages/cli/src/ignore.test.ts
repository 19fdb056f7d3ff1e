import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_IGNORE, IgnoreList, type IgnoreSyntax } from './ignore.ts';

/** The paths of `paths` (a trailing `/` marks a folder) that `text` leaves out. */
function ignored(text: string, paths: string[], syntax: IgnoreSyntax = 'gitignore'): string[] {
  const list = new IgnoreList(syntax).add(text, 'test');
  return paths.filter((p) => list.ignores(p.replace(/\/$/, ''), p.endsWith('/')) !== undefined);
}

describe('gitignore syntax (.faasignore)', () => {
  it('skips blank lines and comments; \\# is a literal #', () => {
    assert.deepEqual(ignored('\n# a.txt\n\\#b.txt\n   \n', ['a.txt', '#b.txt', '# a.txt']), ['#b.txt']);
  });

  it('matches a name without a slash at any depth', () => {
    assert.deepEqual(ignored('secret.txt', ['secret.txt', 'a/b/secret.txt', 'a/secret.txt.bak']), [
      'secret.txt',
      'a/b/secret.txt',
    ]);
  });

  it('anchors a pattern with a leading or middle slash', () => {
    assert.deepEqual(ignored('/top.txt', ['top.txt', 'sub/top.txt']), ['top.txt']);
    assert.deepEqual(ignored('a/b.txt', ['a/b.txt', 'x/a/b.txt']), ['a/b.txt']);
  });

  it('* and ? stay inside one segment', () => {
    assert.deepEqual(ignored('*.log', ['a.log', 'x/b.log', 'c.log.txt']), ['a.log', 'x/b.log']);
    assert.deepEqual(ignored('a/*.js', ['a/x.js', 'a/b/x.js']), ['a/x.js']);
    assert.deepEqual(ignored('file?.txt', ['file1.txt', 'file12.txt', 'file/.txt']), ['file1.txt']);
  });

  it('** spans folders: leading, trailing and in the middle', () => {
    assert.deepEqual(ignored('**/cache', ['cache', 'a/cache', 'a/b/cache/x']), [
      'cache',
      'a/cache',
      'a/b/cache/x',
    ]);
    assert.deepEqual(ignored('build/**', ['build', 'build/a', 'build/a/b']), ['build/a', 'build/a/b']);
    assert.deepEqual(ignored('a/**/z.txt', ['a/z.txt', 'a/b/z.txt', 'a/b/c/z.txt', 'b/a/z.txt']), [
      'a/z.txt',
      'a/b/z.txt',
      'a/b/c/z.txt',
    ]);
  });

  it('a trailing slash matches folders only, and everything inside them', () => {
    assert.deepEqual(ignored('out/', ['out/', 'out', 'out/a.js', 'src/out/b.js']), [
      'out/',
      'out/a.js',
      'src/out/b.js',
    ]);
  });

  it('character classes, negated with ! or ^', () => {
    assert.deepEqual(ignored('*.py[cod]', ['a.pyc', 'a.pyo', 'a.py']), ['a.pyc', 'a.pyo']);
    assert.deepEqual(ignored('v[!0-9]', ['v1', 'vx']), ['vx']);
    assert.deepEqual(ignored('[a-', ['[a-', 'a']), ['[a-']);
  });

  it('! brings back a path a line above left out; the last matching line decides', () => {
    assert.deepEqual(ignored('*.log\n!keep.log', ['a.log', 'keep.log']), ['a.log']);
    assert.deepEqual(ignored('!keep.log\n*.log', ['keep.log']), ['keep.log']);
    assert.deepEqual(ignored('\\!bang', ['!bang']), ['!bang']);
  });

  it('as in git, ! cannot bring back a file inside a folder that is left out', () => {
    assert.deepEqual(ignored('logs/\n!logs/keep.log', ['logs/keep.log']), ['logs/keep.log']);
    // ...but it can when only the folder's contents were left out.
    assert.deepEqual(ignored('logs/*\n!logs/keep.log', ['logs/a.log', 'logs/keep.log']), ['logs/a.log']);
  });

  it('trailing spaces are dropped unless escaped', () => {
    assert.deepEqual(ignored('a.txt   ', ['a.txt']), ['a.txt']);
    assert.deepEqual(ignored('b\\ ', ['b ', 'b']), ['b ']);
  });
});

describe('Docker syntax (.dockerignore)', () => {
  it('anchors every pattern at the root, a leading slash or not', () => {
    assert.deepEqual(ignored('*.md\n/tmp', ['README.md', 'docs/a.md', 'tmp/x'], 'dockerignore'), [
      'README.md',
      'tmp/x',
    ]);
    assert.deepEqual(ignored('**/*.md', ['README.md', 'docs/a.md'], 'dockerignore'), [
      'README.md',
      'docs/a.md',
    ]);
  });

  it('! brings back a file inside a folder that is left out', () => {
    assert.deepEqual(ignored('data\n!data/keep.csv', ['data/a.csv', 'data/keep.csv'], 'dockerignore'), [
      'data/a.csv',
    ]);
    assert.deepEqual(ignored('*\n!src', ['src/a.js', 'other.txt'], 'dockerignore'), ['other.txt']);
  });
});

describe('the default list', () => {
  const defaults = new IgnoreList('gitignore').add(DEFAULT_IGNORE, 'default');
  const out = (path: string, isDir = false) => defaults.ignores(path, isDir) !== undefined;

  it('leaves out secrets wherever they are', () => {
    for (const path of [
      '.env',
      '.env.local',
      'api/.env.production',
      '.npmrc',
      '.pypirc',
      '.netrc',
      'tls/server.key',
      'tls/server.pem',
      'id_ed25519',
      '.aws/credentials',
      '.ssh/config',
      '.docker/config.json',
      'terraform.tfstate',
    ])
      assert.ok(out(path), path);
  });

  it('leaves out caches', () => {
    for (const path of ['__pycache__/m.pyc', 'lib/__pycache__/m.pyc', '.pytest_cache/README.md', '.DS_Store'])
      assert.ok(out(path), path);
  });

  it('packs templates of .env and ordinary files', () => {
    for (const path of [
      '.env.example',
      '.env.sample',
      'env.js',
      'keys.js',
      'src/environment.ts',
      'package.json',
    ])
      assert.ok(!out(path), path);
  });
});
