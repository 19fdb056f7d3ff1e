import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import { peakGrowth } from '../support/process-memory.ts';
import { request, type ServerProcess, spawnServer, tempDataDir, waitFor } from '../support/server.ts';

const MiB = 1024 * 1024;
const skip = engineSkipReason();
/** Hundreds of MB through the engine take minutes on a loaded machine. */
const SLOW = { timeout: 900_000 };

/**
 * File transfers stream through the server with backpressure both ways and bounds: the server's
 * memory does not grow with a file's size, special files are refused, and uploads and downloads
 * past their bounds fail without leaving half a file. The server runs as its own process so its
 * memory can be read from /proc.
 */
describe('instance file transfers', { skip }, () => {
  let server: ServerProcess;
  const dataDir = tempDataDir();
  const api = async <T>(path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await request(server.url, `/api/v1${path}`, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const exec = async (id: string, command: string) =>
    (
      await api<{ stdout: string; stderr: string; exit_code: number }>(`/instances/${id}/exec`, {
        method: 'POST',
        json: { command, timeout_ms: 600_000 },
      })
    ).body;
  let id: string;

  before(async () => {
    server = await spawnServer(dataDir, {
      FAAS_BODY_LIMIT_BYTES: String(40 * MiB),
      FAAS_INSTANCE_MAX_DOWNLOAD_BYTES: String(300 * MiB),
    });
    const created = await api<{ id: string }>('/instances', {
      method: 'POST',
      json: { memory_mb: 1024, disk_mb: 512 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = created.body.id;
  });
  after(async () => {
    await server.kill('SIGKILL');
    removeContainers(ownedContainers(dataDir));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('downloads a 256 MiB file as a stream: the same bytes, the server’s memory flat', SLOW, async (t) => {
    const made = await exec(
      id,
      'head -c 16777216 /dev/urandom > seed && for i in $(seq 16); do cat seed; done > big.bin && rm seed && sha256sum big.bin',
    );
    assert.equal(made.exit_code, 0, made.stderr);
    const expected = made.stdout.split(' ')[0];
    const pid = server.child.pid as number;
    const { result, growthBytes } = await peakGrowth(pid, async () => {
      const res = await request(server.url, `/api/v1/instances/${id}/files?path=big.bin`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const hash = createHash('sha256');
      let size = 0;
      let chunks = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        size += value.length;
        // A slow reader for a while: the server must wait for it, not buffer the file.
        if (++chunks === 10) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      return { size, sha256: hash.digest('hex') };
    });
    assert.deepEqual(result, { size: 256 * MiB, sha256: expected });
    t.diagnostic(`server peak RSS growth over a 256 MiB download: ${(growthBytes / MiB).toFixed(1)} MiB`);
    assert.ok(growthBytes < 64 * MiB, `the server grew by ${(growthBytes / MiB).toFixed(0)} MiB`);
    await exec(id, 'rm big.bin');
  });

  it('refuses special files (/dev/zero, a FIFO) and files over the download bound', SLOW, async () => {
    const zero = await api<{ error: { code: string; message: string } }>(
      `/instances/${id}/files?path=/dev/zero`,
    );
    assert.equal(zero.status, 400);
    assert.match(zero.body.error.message, /not a regular file/);
    await exec(id, 'mkfifo pipe');
    const fifo = await api<{ error: { code: string } }>(`/instances/${id}/files?path=pipe`);
    assert.equal(fifo.status, 400);
    await exec(id, 'truncate -s 400M sparse.bin');
    const over = await api<{ error: { code: string } }>(`/instances/${id}/files?path=sparse.bin`);
    assert.equal(over.status, 413);
    assert.equal(over.body.error.code, 'FAAS_ERR_BODY_TOO_LARGE');
    // A folder's tar past the bound is cut off: the client sees a failed transfer, not a short tar.
    await exec(id, 'mkdir -p big && mv sparse.bin big/');
    const res = await request(server.url, `/api/v1/instances/${id}/files/tar?path=big`);
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
    await exec(id, 'rm -rf big pipe');
  });

  it(
    'uploads stream in, past the agent’s 8 MiB stdin buffer, and a failed upload leaves the old file',
    SLOW,
    async () => {
      const data = Buffer.alloc(30 * MiB);
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
      const put = await api<{ size: number }>(`/instances/${id}/files?path=up/data.bin`, {
        method: 'PUT',
        body: data,
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal(put.body.size, data.length);
      const sum = await exec(id, 'sha256sum up/data.bin');
      assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));

      // Over the body limit, declared: refused before a byte is read (the connection closes, so a
      // client still sending may see the reset before the 413).
      const declared = await request(server.url, `/api/v1/instances/${id}/files?path=up/data.bin`, {
        method: 'PUT',
        body: Buffer.alloc(41 * MiB),
      }).then(
        (res) => res.status,
        () => 'connection closed',
      );
      assert.ok(declared === 413 || declared === 'connection closed', String(declared));
      // Over the limit, undeclared (chunked): cut off while streaming, and nothing half-written.
      const chunks = async function* () {
        for (let i = 0; i < 41; i++) yield Buffer.alloc(MiB, 1);
      };
      const streamed = await request(server.url, `/api/v1/instances/${id}/files?path=up/data.bin`, {
        method: 'PUT',
        body: ReadableStream.from(chunks()) as never,
        duplex: 'half',
      } as RequestInit).then(
        (res) => res.status,
        () => 'connection closed',
      );
      assert.ok(streamed === 413 || streamed === 'connection closed', String(streamed));
      // A client that saw the connection close may be faster than the server's clean-up.
      await waitFor(
        async () => (/faas-upload/.test((await exec(id, 'ls -a up')).stdout) ? undefined : true),
        30_000,
        'the partial upload to be removed',
      );
      const after = await exec(id, 'sha256sum up/data.bin');
      assert.equal(after.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));

      // A tar in, the same way.
      const tar = await request(server.url, `/api/v1/instances/${id}/files/tar?path=up`);
      const copy = await api(`/instances/${id}/files/tar?path=copy`, {
        method: 'POST',
        body: Buffer.from(await tar.arrayBuffer()),
      });
      assert.equal(copy.status, 200);
      assert.equal((await exec(id, 'cmp up/data.bin copy/data.bin && echo same')).stdout, 'same\n');
      await exec(id, 'rm -rf up copy');
    },
  );
});
