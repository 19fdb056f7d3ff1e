// The baseline: a plain node:http server answering the same request with the same JSON body the
// faas function returns, so the difference is what the gateway and runtime add.
// Run as a separate process; prints "baseline listening on http://127.0.0.1:PORT".
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let n: unknown = null;
    try {
      n = (JSON.parse(Buffer.concat(chunks).toString() || '{}') as { n?: unknown }).n ?? null;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const body = JSON.stringify({ ok: true, n });
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object')
    console.log(`baseline listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
