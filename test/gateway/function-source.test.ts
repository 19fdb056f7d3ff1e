import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('a version’s source (GET /functions/{name}/versions/{n}/code)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s?.close());

  const v1 = { 'index.js': 'export default () => "one";\n', 'lib/data.txt': 'héllo\n' };
  const v2 = { 'index.js': 'export default () => "two";\n' };

  it('gives each version’s files as text, as deployed', async () => {
    assert.equal(
      (
        await s.api('/api/v1/functions/src-a', {
          method: 'PUT',
          json: { runtime: 'js', code: { files: v1 } },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await s.api('/api/v1/functions/src-a', {
          method: 'PUT',
          json: { runtime: 'js', code: { files: v2 } },
        })
      ).status,
      200,
    );
    const one = (await (await s.api('/api/v1/functions/src-a/versions/1/code')).json()) as {
      files: Record<string, string>;
      binaryFiles: string[];
    };
    assert.deepEqual(one.files, v1);
    assert.deepEqual(one.binaryFiles, []);
    const two = (await (await s.api('/api/v1/functions/src-a/versions/2/code')).json()) as {
      files: Record<string, string>;
    };
    assert.deepEqual(two.files, v2);
  });

  it('rolls back: the tar of version 1 deployed again runs version 1’s code', async () => {
    const tar = await s.api('/api/v1/functions/src-a/versions/1/code?format=tar');
    assert.equal(tar.status, 200);
    assert.equal(tar.headers.get('content-type'), 'application/x-tar');
    const archive = Buffer.from(await tar.arrayBuffer()).toString('base64');
    const back = await s.api('/api/v1/functions/src-a', {
      method: 'PUT',
      json: { runtime: 'js', code: { archive, format: 'tar' } },
    });
    assert.equal(back.status, 200);
    assert.equal(((await back.json()) as { latestVersion: number }).latestVersion, 3);
    const run = await s.api('/api/v1/functions/src-a/invoke', { method: 'POST' });
    assert.equal(await run.json(), 'one');
  });

  it('lists files that are not UTF-8 apart', async () => {
    const files = { 'index.js': 'export default () => 1;\n' };
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    // An archive is the way to deploy bytes that are not text: a tar with a binary file.
    const tar = tarOf({
      ...Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])),
      'blob.bin': bytes,
    });
    const res = await s.api('/api/v1/functions/src-b', {
      method: 'PUT',
      json: { runtime: 'js', code: { archive: tar.toString('base64'), format: 'tar' } },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const body = (await (await s.api('/api/v1/functions/src-b/versions/1/code')).json()) as {
      files: Record<string, string>;
      binaryFiles: string[];
    };
    assert.deepEqual(body.files, files);
    assert.deepEqual(body.binaryFiles, ['blob.bin']);
  });

  it('is 404 for an unknown function or version, 401 without a key', async () => {
    assert.equal((await s.api('/api/v1/functions/nope/versions/1/code')).status, 404);
    assert.equal((await s.api('/api/v1/functions/src-a/versions/99/code')).status, 404);
    assert.equal((await s.api('/api/v1/functions/src-a/versions/1/code', { key: null })).status, 401);
  });
});

/** A plain ustar archive of the given files. */
function tarOf(files: Record<string, Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, body] of Object.entries(files)) {
    const header = Buffer.alloc(512);
    header.write(name, 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
