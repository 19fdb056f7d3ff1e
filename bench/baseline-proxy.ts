// The floor of section 11's hop: a plain node:http process that passes each request on to one
// target (the worker) over kept-alive connections and its answer back, doing nothing else. What
// it adds to a call is what any extra process on the path costs on this machine now (a loopback
// round trip and two wake-ups), the part of the gateway's hop that is not faas's code.
// Run as a separate process with the target in BENCH_PROXY_TARGET; prints "proxy listening on …".
import { Agent, createServer, request } from 'node:http';

const target = new URL(process.env.BENCH_PROXY_TARGET ?? '');
const agent = new Agent({ keepAlive: true });

const server = createServer((req, res) => {
  const upstream = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.once('error', () => res.writeHead(502).end());
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object')
    console.log(`proxy listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
