import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWrkOutput } from './wrk.ts';

const OUTPUT = `Running 6s test @ http://127.0.0.1:40000/api/v1/functions/bench-warm/invoke
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.10ms    4.02ms  60.11ms   90.12%
    Req/Sec     2.51k   210.33     2.90k    71.67%
  Latency Distribution
     50%  850.00us
     75%    6.90ms
     90%    9.80ms
     99%    1.20s
  30012 requests in 6.00s, 7.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   5001.23
Transfer/sec:      1.18MB
`;

describe('parseWrkOutput', () => {
  it('reads throughput, percentiles in any unit, and counts errors', () => {
    const result = parseWrkOutput(OUTPUT, 32, 6);
    assert.equal(result.requests, 30012);
    assert.equal(result.requestsPerSec, 5001.23);
    assert.equal(result.p50Ms, 0.85);
    assert.equal(result.p99Ms, 1200);
    assert.equal(result.errors, 7);
  });

  it('reports no errors when wrk printed none', () => {
    const clean = OUTPUT.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '');
    assert.equal(parseWrkOutput(clean, 32, 6).errors, 0);
  });
});
