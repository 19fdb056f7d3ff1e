// Fallback load generator, run in its own process so it never shares an event loop with the
// bench: `connections` callers on a keep-alive agent, each sending the next request when the
// last one's body is read, for `durationS` seconds. Prints one JSON LoadResult line.
// argv: <json LoadTarget> <connections> <durationS>
import { Agent, request } from 'node:http';
import { indexPicker, type LoadTarget } from './load-result.ts';
import { percentile } from './stats.ts';

const [targetJson = '{}', connectionsArg = '1', durationArg = '5'] = process.argv.slice(2);
const target = JSON.parse(targetJson) as LoadTarget;
const connections = Number(connectionsArg);
const durationS = Number(durationArg);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const url = new URL(target.url.replace('{i}', '0'));
const pick = target.spread ? indexPicker(target.spread) : undefined;
const pathOf = () =>
  pick ? new URL(target.url.replace('{i}', String(pick()))).pathname : url.pathname + url.search;
const headers = { ...target.headers, 'content-length': String(Buffer.byteLength(target.body)) };

const latencies: number[] = [];
let errors = 0;
const until = performance.now() + durationS * 1000;

function once(): Promise<void> {
  return new Promise((done) => {
    const started = process.hrtime.bigint();
    const req = request(
      { host: url.hostname, port: url.port, path: pathOf(), method: 'POST', headers, agent },
      (res) => {
        res.resume();
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) errors += 1;
          latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          done();
        });
      },
    );
    req.on('error', () => {
      errors += 1;
      done();
    });
    req.end(target.body);
  });
}

const started = performance.now();
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < until) await once();
  }),
);
const elapsedS = (performance.now() - started) / 1000;
agent.destroy();
console.log(
  JSON.stringify({
    generator: 'node',
    connections,
    durationS,
    requests: latencies.length,
    errors,
    requestsPerSec: latencies.length / elapsedS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  }),
);
