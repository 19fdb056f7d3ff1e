// Request bodies that are not HTTP or stop short, on a real server process with gateway threads
// (the thread's HTTP server parses the body) and its request log on: a 400 in the error format
// while the connection can still take an answer, and a client that went away is neither an
// error line nor a request logged as answered.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { once } from '../support/own-connection.ts';
import { ADMIN_KEY, type ServerProcess, spawnServer, tempDataDir, waitFor } from '../support/server.ts';

const ROUTES = ['/api/v1/projects', '/api/v1/functions/echo/invoke', '/fn/echo'];
/** The route pattern each path's request log line names. */
const PATTERNS: Record<string, string> = {
  '/api/v1/projects': '/api/v1/projects',
  '/api/v1/functions/echo/invoke': '/api/v1/functions/:name/invoke',
  '/fn/echo': '/fn/:name',
};

interface RequestLine {
  msg: string;
  method: string;
  route: string;
  status: number;
}

/** The request log's lines for ROUTES (the deploy's may come late: lines go out asynchronously). */
function requestLines(output: string): RequestLine[] {
  const routes = new Set(Object.values(PATTERNS));
  return output
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text) as RequestLine)
    .filter((line) => line.msg === 'request' && routes.has(line.route));
}

/**
 * Writes `head` and `body` on a connection of its own; with `hangUpAfterMs` closes it that long
 * after, else reads until the server closes it. What the server sent, as text.
 */
function exchange(url: string, head: string, body: string, hangUpAfterMs?: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(head + body);
      if (hangUpAfterMs !== undefined)
        setTimeout(() => {
          socket.destroy();
          resolve(text);
        }, hangUpAfterMs);
    });
    socket.setTimeout(10_000, () =>
      socket.destroy(new Error(`no answer in 10 s; got ${JSON.stringify(text)}`)),
    );
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

const head = (path: string, framing: string) =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ADMIN_KEY}\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`;

describe('request bodies that are not HTTP or stop short', () => {
  const dataDir = tempDataDir();
  let server: ServerProcess;

  before(async () => {
    server = await spawnServer(dataDir, { FAAS_LOG_LEVEL: 'info', FAAS_GATEWAY_THREADS: '2' });
    const deployed = await once(server.url, 'POST', '/api/v1/functions', {
      body: { name: 'echo', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(deployed.status, 201, deployed.body);
  });
  after(async () => {
    await server.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a chunked body that is not HTTP is a 400 in the error format on every route, then the connection closes', async () => {
    const before = requestLines(server.output()).length;
    for (const path of ROUTES) {
      const raw = await exchange(
        server.url,
        head(path, 'Transfer-Encoding: chunked'),
        'ZZ\r\nabc\r\n0\r\n\r\n',
      );
      const [answerHead = '', answerBody = ''] = raw.split('\r\n\r\n');
      assert.match(answerHead, /^HTTP\/1\.1 400 /, `${path}: ${JSON.stringify(raw)}`);
      assert.match(answerHead, /\r\nconnection: close/i, path);
      const error = (JSON.parse(answerBody) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'FAAS_ERR_BAD_REQUEST', path);
      assert.match(error.message, /^The request body is not valid HTTP \(HPE_INVALID_CHUNK_SIZE\)$/, path);
    }
    // The invokes' lines, each written by the thread that served it, in any order. A request a
    // gateway thread passes on and refuses before its body went up is one the main thread may
    // never have seen: its line is there or not, and says 400 when it is.
    const invokes = ROUTES.slice(1);
    const lines = await waitFor(
      async () => {
        const logged = requestLines(server.output()).slice(before);
        return invokes.every((path) => logged.some((l) => l.route === PATTERNS[path])) ? logged : undefined;
      },
      5_000,
      `a line for each invoke in ${server.output()}`,
    );
    for (const path of invokes) {
      assert.deepEqual(
        lines.filter((l) => l.route === PATTERNS[path]).map((l) => l.status),
        [400],
        path,
      );
    }
    assert.ok(
      lines.every((l) => l.status === 400),
      JSON.stringify(lines),
    );
    assert.doesNotMatch(server.output(), /unhandled error/);
  });

  it('a client that goes away mid-body is no error, and is logged as 499, never as answered', async () => {
    const before = requestLines(server.output()).length;
    const invokes = ROUTES.slice(1);
    for (const path of invokes) {
      const got = await exchange(server.url, head(path, 'Content-Length: 100'), '{"a":1', 300);
      assert.equal(got, '', path);
    }
    const lines = await waitFor(async () => {
      const logged = requestLines(server.output())
        .slice(before)
        .filter((l) => l.route !== PATTERNS['/api/v1/projects']);
      return logged.length >= invokes.length ? logged : undefined;
    });
    assert.deepEqual(
      lines.map((l) => `${l.route} ${l.status}`).sort(),
      invokes.map((path) => `${PATTERNS[path]} 499`).sort(),
    );
    assert.doesNotMatch(server.output(), /unhandled error|ECONNRESET/);
  });
});
