import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { indexPicker, type LoadSpread, type LoadTarget } from './load-result.ts';
import { runNodeLoad } from './node-loadgen.ts';
import { runWrk } from './wrk.ts';

// The generators run synchronously (they block this process), so the counting server is a child.
const COUNTING_SERVER = `
const hits = {};
const server = require('node:http').createServer((req, res) => {
  if (req.url === '/counts') { res.end(JSON.stringify(hits)); for (const k in hits) delete hits[k]; return; }
  hits[req.url] = (hits[req.url] ?? 0) + 1;
  req.resume();
  req.on('end', () => res.end('{}'));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** How often each `fn-{i}` path was asked for, by a generator run against a counting server. */
describe('load spread: each request picks a function', () => {
  let child: ChildProcess;
  let url = '';
  before(async () => {
    child = spawn(process.execPath, ['-e', COUNTING_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) =>
      child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())),
    );
    url = `http://127.0.0.1:${port}`;
  });
  after(() => child.kill());

  const target = (spread: LoadSpread): LoadTarget => ({
    url: `${url}/fn-{i}/invoke`,
    body: '{}',
    headers: { 'content-type': 'application/json' },
    spread,
  });
  const check = async (distribution: LoadSpread['distribution']) => {
    const hits = new Map<number, number>();
    let other = 0;
    for (const [path, n] of Object.entries(
      (await (await fetch(`${url}/counts`)).json()) as Record<string, number>,
    )) {
      const match = /^\/fn-(\d+)\/invoke$/.exec(path);
      if (match) hits.set(Number(match[1]), n);
      else other += n;
    }
    const counts = Array.from({ length: 10 }, (_, i) => hits.get(i) ?? 0);
    const total = counts.reduce((a, b) => a + b, 0);
    assert.equal(other, 0, 'every path is one of the spread');
    assert.ok(total > 200, `enough requests (${total})`);
    assert.equal(hits.size, 10, `every index is asked for: ${counts}`);
    if (distribution === 'zipf') {
      // Index 0 weighs 1/H(10) ≈ 34 %, index 9 ≈ 3.4 %.
      assert.ok((counts[0] as number) > 5 * (counts[9] as number), `zipf: ${counts}`);
    } else {
      // Each index within 5 standard deviations of its share: a skewed picker fails, the noise
      // of a few hundred requests (a busy machine makes few) does not.
      const mean = total / 10;
      const spread = 5 * Math.sqrt(mean);
      assert.ok(
        counts.every((n) => Math.abs(n - mean) <= spread),
        `uniform: ${counts} (each within ${Math.round(spread)} of ${mean})`,
      );
    }
  };

  for (const distribution of ['uniform', 'zipf'] as const) {
    it(`the node generator, ${distribution}`, async () => {
      runNodeLoad(target({ count: 10, distribution }), 4, 1);
      await check(distribution);
    });
    it(`wrk's script, ${distribution}`, {
      skip: spawnSync('wrk', ['--version']).error ? 'wrk is not installed' : false,
    }, async () => {
      runWrk(target({ count: 10, distribution }), 4, 1);
      await check(distribution);
    });
  }

  it('indexPicker stays in range', () => {
    for (const distribution of ['uniform', 'zipf'] as const) {
      const pick = indexPicker({ count: 3, distribution });
      for (let i = 0; i < 1000; i++) assert.ok([0, 1, 2].includes(pick()));
    }
  });
});
