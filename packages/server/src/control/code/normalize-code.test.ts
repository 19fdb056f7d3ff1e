import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { constants, deflateRawSync, gzipSync } from 'node:zlib';
import { type CodeInput, ErrorCode, type FaasError } from '@faas/core';
import { type NormalizeOptions, normalizeCode } from './normalize-code.ts';
import { base64, rejectsWith, tarOf, text, zipOf } from './test-support.ts';

const options: NormalizeOptions = { maxBytes: 1024 * 1024, defaultFilename: 'index.ts' };

async function rejects(input: unknown, code: ErrorCode, pattern: RegExp, opts = options): Promise<FaasError> {
  const err = await rejectsWith(normalizeCode(input as CodeInput, opts), code, pattern);
  assert.equal(err.status, 422);
  return err;
}

describe('normalizeCode: a string', () => {
  it('is one file named by the runtime', async () => {
    const files = await normalizeCode('export default () => 1', options);
    assert.deepEqual(text(files), { 'index.ts': 'export default () => 1' });
  });

  it('refuses empty code', async () => {
    const err = await rejects('', ErrorCode.VALIDATION, /empty/);
    assert.deepEqual(err.details, [{ field: 'code', message: err.message }]);
  });

  it('refuses code over maxBytes', async () => {
    await rejects('x'.repeat(101), ErrorCode.VALIDATION, /larger than 100 bytes/, {
      ...options,
      maxBytes: 100,
    });
  });
});

describe('normalizeCode: { files }', () => {
  it('keeps paths as given, encoding text as UTF-8', async () => {
    const files = await normalizeCode(
      { files: { 'src/api.ts': 'export const handler = () => "é"', './README.md': '# hi' } },
      options,
    );
    assert.deepEqual(text(files), { 'src/api.ts': 'export const handler = () => "é"', 'README.md': '# hi' });
    assert.equal(files.get('src/api.ts')?.byteLength, 33);
  });

  for (const [path, why] of [
    ['../escape.js', /"\.\.\/escape\.js".*leaves the code folder/],
    ['a/../../escape.js', /leaves the code folder/],
    ['/etc/passwd', /"\/etc\/passwd".*absolute/],
    ['src\\api.ts', /backslash/],
    ['a\0b.js', /NUL/],
    ['a//b.js', /empty or "\." segment/],
    ['C:/x.js', /drive letter/],
  ] as const) {
    it(`refuses the path ${JSON.stringify(path)}`, async () => {
      await rejects({ files: { [path]: 'x' } }, ErrorCode.VALIDATION, why);
    });
  }

  it('refuses content that is not a string, naming the file', async () => {
    await rejects(
      { files: { 'index.ts': 42 } },
      ErrorCode.VALIDATION,
      /code\.files\["index\.ts"\] must be a string/,
    );
  });

  it('refuses no files', async () => {
    await rejects({ files: {} }, ErrorCode.VALIDATION, /no files/);
  });

  it('refuses more files than maxFiles', async () => {
    const files = { 'a.js': '1', 'b.js': '2', 'c.js': '3', 'd.js': '4' };
    await rejects({ files }, ErrorCode.VALIDATION, /more than 3 files/, { ...options, maxFiles: 3 });
  });

  it('refuses a total size over maxBytes', async () => {
    const files = { 'a.js': 'x'.repeat(60), 'b.js': 'y'.repeat(60) };
    await rejects({ files }, ErrorCode.VALIDATION, /larger than 100 bytes/, { ...options, maxBytes: 100 });
  });

  it('refuses a path that is both a file and a folder', async () => {
    await rejects(
      { files: { lib: 'x', 'lib/a.js': 'y' } },
      ErrorCode.VALIDATION,
      /"lib" as both a file and a folder/,
    );
    await rejects(
      { files: { 'lib/a.js': 'y', lib: 'x' } },
      ErrorCode.VALIDATION,
      /"lib" as both a file and a folder/,
    );
  });
});

describe('normalizeCode: bad shapes', () => {
  for (const input of [null, 42, [], {}, { files: {}, archive: '' }]) {
    it(`refuses ${JSON.stringify(input)}`, async () => {
      await rejects(input, ErrorCode.VALIDATION, /code/);
    });
  }

  it('refuses files that are not an object', async () => {
    await rejects({ files: 'index.js' }, ErrorCode.VALIDATION, /code\.files must be an object/);
  });

  it('refuses an unknown format', async () => {
    await rejects(
      { archive: 'UEsFBg==', format: 'rar' },
      ErrorCode.VALIDATION,
      /code\.format must be one of zip, tar\.gz, tar/,
    );
  });
});

describe('normalizeCode: { archive }', () => {
  const sample = { 'index.ts': 'export default () => 1', 'lib/util.ts': 'export const x = 2' };

  it('reads a zip, sniffed or declared, skipping folders and keeping a single top folder', async () => {
    const zip = zipOf({
      'app/': '',
      'app/index.ts': sample['index.ts'],
      'app/lib/util.ts': sample['lib/util.ts'],
    });
    const expected = { 'app/index.ts': sample['index.ts'], 'app/lib/util.ts': sample['lib/util.ts'] };
    assert.deepEqual(text(await normalizeCode({ archive: base64(zip) }, options)), expected);
    assert.deepEqual(text(await normalizeCode({ archive: base64(zip), format: 'zip' }, options)), expected);
  });

  it('reads a tar and a tar.gz, skipping folders and a leading ./', async () => {
    const entries = [
      { name: './', type: 'directory' as const },
      { name: './lib/', type: 'directory' as const },
      { name: './index.ts', content: sample['index.ts'] },
      { name: './lib/util.ts', content: sample['lib/util.ts'] },
    ];
    const tar = await tarOf(entries);
    const tgz = await tarOf(entries, { gzip: true });
    assert.deepEqual(text(await normalizeCode({ archive: base64(tar) }, options)), sample);
    assert.deepEqual(text(await normalizeCode({ archive: base64(tgz) }, options)), sample);
    assert.deepEqual(text(await normalizeCode({ archive: base64(tgz), format: 'tar.gz' }, options)), sample);
  });

  it('reads archives made by GNU tar and Info-ZIP', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'faas-code-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const src = join(dir, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'index.ts'), sample['index.ts']);
    writeFileSync(join(src, 'lib/util.ts'), sample['lib/util.ts']);
    execFileSync('tar', ['-czf', join(dir, 'code.tgz'), '-C', src, '.']);
    const tgz = readFileSync(join(dir, 'code.tgz'));
    assert.deepEqual(text(await normalizeCode({ archive: tgz.toString('base64') }, options)), sample);
    try {
      execFileSync('zip', ['-qr', join(dir, 'code.zip'), '.'], { cwd: src });
    } catch {
      t.skip('the zip command is not installed');
      return;
    }
    const zip = readFileSync(join(dir, 'code.zip'));
    assert.deepEqual(text(await normalizeCode({ archive: zip.toString('base64') }, options)), sample);

    symlinkSync('index.ts', join(src, 'link.ts'));
    execFileSync('zip', ['-qry', join(dir, 'links.zip'), '.'], { cwd: src });
    const links = readFileSync(join(dir, 'links.zip')).toString('base64');
    await rejects({ archive: links }, ErrorCode.INVALID_ARCHIVE, /symbolic link "link\.ts"/);
  });

  it('refuses invalid base64, saying where', async () => {
    await rejects(
      { archive: 'UEsD$BAo=' },
      ErrorCode.INVALID_ARCHIVE,
      /not valid base64: character "\$" at 4/,
    );
    await rejects({ archive: 'UEsDB' }, ErrorCode.INVALID_ARCHIVE, /not valid base64: bad length or padding/);
  });

  it('refuses an empty archive string', async () => {
    await rejects({ archive: '' }, ErrorCode.INVALID_ARCHIVE, /empty/);
  });

  it('refuses bytes that are no known archive, and a mislabelled one', async () => {
    await rejects(
      { archive: base64(Buffer.from('just some text')) },
      ErrorCode.INVALID_ARCHIVE,
      /not a recognised archive/,
    );
    const tgz = await tarOf([{ name: 'a.js', content: '1' }], { gzip: true });
    await rejects(
      { archive: base64(tgz), format: 'zip' },
      ErrorCode.INVALID_ARCHIVE,
      /format is "zip" but the archive looks like tar\.gz/,
    );
  });

  it('refuses a truncated zip', async () => {
    const zip = zipOf(sample);
    await rejects(
      { archive: base64(zip.subarray(0, zip.length - 30)) },
      ErrorCode.INVALID_ARCHIVE,
      /zip archive is corrupt/,
    );
    await rejects(
      { archive: base64(zip.subarray(0, 40)), format: 'zip' },
      ErrorCode.INVALID_ARCHIVE,
      /zip archive is corrupt/,
    );
  });

  it('refuses a zip whose data does not match its CRC', async () => {
    const zip = zipOf({ 'index.js': 'export default () => "hello world"' }, {}, { store: true });
    const stored = Buffer.from(zip);
    const at = stored.indexOf('hello');
    assert.ok(at > 0);
    stored[at] = 'j'.charCodeAt(0);
    await rejects(
      { archive: base64(stored) },
      ErrorCode.INVALID_ARCHIVE,
      /corrupt at "index\.js": CRC mismatch/,
    );
  });

  it('refuses a truncated tar.gz and a tar with a broken header', async () => {
    const tgz = await tarOf([{ name: 'a.js', content: 'x'.repeat(5000) }], { gzip: true });
    await rejects(
      { archive: base64(tgz.subarray(0, tgz.length - 10)) },
      ErrorCode.INVALID_ARCHIVE,
      /tar\.gz archive is corrupt/,
    );
    const tar = await tarOf([{ name: 'a.js', content: 'hello' }]);
    tar[148] = 0x39; // checksum field
    await rejects({ archive: base64(tar) }, ErrorCode.INVALID_ARCHIVE, /tar archive is corrupt/);
  });

  it('refuses links and special files in a tar', async () => {
    const file = { name: 'index.js', content: 'x' };
    const symlink = await tarOf([file, { name: 'evil.js', type: 'symlink', linkname: '/etc/passwd' }]);
    await rejects(
      { archive: base64(symlink) },
      ErrorCode.INVALID_ARCHIVE,
      /symbolic link "evil\.js".*not allowed/,
    );
    const hardlink = await tarOf([file, { name: 'copy.js', type: 'link', linkname: 'index.js' }]);
    await rejects({ archive: base64(hardlink) }, ErrorCode.INVALID_ARCHIVE, /hard link "copy\.js"/);
    const fifo = await tarOf([file, { name: 'pipe', type: 'fifo' }]);
    await rejects({ archive: base64(fifo) }, ErrorCode.INVALID_ARCHIVE, /special file "pipe" \(fifo\)/);
  });

  it('refuses a symlink in a zip', async () => {
    const zip = zipOf({ 'index.js': 'x', 'evil.js': '/etc/passwd' }, { 'evil.js': 0o120777 });
    await rejects({ archive: base64(zip) }, ErrorCode.INVALID_ARCHIVE, /symbolic link "evil\.js"/);
  });

  it('refuses path traversal in a tar and in a zip', async () => {
    for (const name of ['../evil.js', '/abs.js', 'a/../../evil.js']) {
      const tar = await tarOf([{ name, content: 'x' }]);
      await rejects({ archive: base64(tar) }, ErrorCode.INVALID_ARCHIVE, /tar archive has a bad path/);
      const zip = zipOf({ [name]: 'x' });
      await rejects({ archive: base64(zip) }, ErrorCode.INVALID_ARCHIVE, /zip archive has a bad path/);
    }
  });

  it('refuses a path twice in a tar', async () => {
    const tar = await tarOf([
      { name: 'a.js', content: '1' },
      { name: 'a.js', content: '2' },
    ]);
    await rejects({ archive: base64(tar) }, ErrorCode.INVALID_ARCHIVE, /"a\.js" twice/);
  });

  it('refuses archives without files', async () => {
    await rejects(
      { archive: base64(zipOf({ 'empty/': '' })) },
      ErrorCode.INVALID_ARCHIVE,
      /zip archive contains no files/,
    );
    const tar = await tarOf([{ name: 'empty/', type: 'directory' }]);
    await rejects({ archive: base64(tar) }, ErrorCode.INVALID_ARCHIVE, /tar archive contains no files/);
  });

  it('refuses more files than maxFiles', async () => {
    const names = ['a.js', 'b.js', 'c.js'];
    const limited = { ...options, maxFiles: 2 };
    const zip = zipOf(Object.fromEntries(names.map((n) => [n, n])));
    await rejects({ archive: base64(zip) }, ErrorCode.INVALID_ARCHIVE, /more than 2 files/, limited);
    const tar = await tarOf(names.map((name) => ({ name, content: name })));
    await rejects({ archive: base64(tar) }, ErrorCode.INVALID_ARCHIVE, /more than 2 files/, limited);
  });

  it('stops inflating a zip bomb at the size limit, before reaching its end', async () => {
    // 1 MiB that does not compress, then bytes that are not deflate at all: a reader that
    // inflated everything before checking the size would report the corruption instead.
    const deflated = deflateRawSync(randomBytes(1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH });
    const bomb = Buffer.concat([deflated, Buffer.alloc(64, 0xff)]);
    const zip = zipWithRawEntry('bomb.bin', bomb, 10);
    const small = { ...options, maxBytes: 64 * 1024 };
    await rejects(
      { archive: base64(zip) },
      ErrorCode.INVALID_ARCHIVE,
      /larger than 65536 bytes uncompressed/,
      small,
    );
  });

  it('refuses a tar entry over the limit from its header, and a tar.gz that inflates to padding', async () => {
    const small = { ...options, maxBytes: 64 * 1024, maxFiles: 10 };
    const big = await tarOf([{ name: 'big.bin', content: new Uint8Array(65 * 1024) }], { gzip: true });
    await rejects({ archive: base64(big) }, ErrorCode.INVALID_ARCHIVE, /larger than 65536 bytes/, small);
    const tar = await tarOf([{ name: 'a.js', content: 'x' }]);
    const padded = gzipSync(Buffer.concat([tar, Buffer.alloc(16 * 1024 * 1024)]));
    await rejects({ archive: base64(padded) }, ErrorCode.INVALID_ARCHIVE, /larger than 65536 bytes/, small);
  });
});

/** A zip of one deflated entry whose directory claims `claimedSize` bytes, whatever the data holds. */
function zipWithRawEntry(name: string, deflated: Uint8Array, claimedSize: number): Uint8Array {
  const nameBytes = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(deflated.byteLength, 18);
  local.writeUInt32LE(claimedSize, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(deflated.byteLength, 20);
  central.writeUInt32LE(claimedSize, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  const centralOffset = local.length + nameBytes.length + deflated.byteLength;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + nameBytes.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, nameBytes, deflated, central, nameBytes, end]);
}
