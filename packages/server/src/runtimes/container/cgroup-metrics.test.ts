import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CgroupMetrics } from './cgroup-metrics.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-cgroup-'));
after(() => rmSync(root, { recursive: true, force: true }));

function file(path: string, text: string): string {
  const full = join(root, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
  return full;
}

describe('CgroupMetrics', () => {
  it('reads cgroup v1 files afresh at every reading, through files kept open', () => {
    const cpu = file('cpuacct/docker/c1/cpuacct.usage', '2500000\n');
    const peak = file('memory/docker/c1/memory.max_usage_in_bytes', '4096\n');
    const metrics = CgroupMetrics.forContainer('c1', root);
    assert.equal(metrics.cpuTimeMs(), 2.5);
    assert.equal(metrics.peakMemoryBytes(), 4096);
    // The kernel writes a cgroup file out again at each read from offset 0; a rewritten file
    // stands in for that here.
    writeFileSync(cpu, '7000000\n');
    writeFileSync(peak, '8192\n');
    assert.equal(metrics.cpuTimeMs(), 7);
    assert.equal(metrics.peakMemoryBytes(), 8192);
    metrics.resetPeak();
    assert.equal(readFileSync(peak, 'utf8')[0], '0', 'the reset went to the peak file');
    metrics.close();
    metrics.close();
    assert.equal(metrics.cpuTimeMs(), undefined);
    assert.equal(metrics.peakMemoryBytes(), undefined);
  });

  it('reads cgroup v2 (systemd layout): usage_usec of cpu.stat and memory.peak', () => {
    const dir = 'system.slice/docker-c2.scope';
    file(`${dir}/cpu.stat`, 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    file(`${dir}/memory.peak`, '65536\n');
    const metrics = CgroupMetrics.forContainer('c2', root);
    assert.equal(metrics.cpuTimeMs(), 1.5);
    assert.equal(metrics.peakMemoryBytes(), 65536);
    metrics.close();
  });

  it('has no readings for a container without a cgroup here', () => {
    const metrics = CgroupMetrics.forContainer('nowhere', root);
    assert.equal(metrics.cpuTimeMs(), undefined);
    assert.equal(metrics.peakMemoryBytes(), undefined);
    metrics.resetPeak();
    metrics.close();
  });
});
