import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RequestLog } from './request-log.ts';

async function linesOf(level: ConstructorParameters<typeof RequestLog>[0], write: (log: RequestLog) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'faas-request-log-'));
  const path = join(dir, 'out');
  // The log closes the descriptor it was given, unless it never opened a destination (silent).
  const fd = openSync(path, 'w');
  try {
    const log = new RequestLog(level, fd);
    write(log);
    await log.close();
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    if (level === 'silent') closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

const ok = { method: 'GET', route: '/api/v1/functions', status: 200, durationMs: 1.23456 };

describe('RequestLog', () => {
  it('writes the given fields only, info below 500 and error from 500', async () => {
    const lines = await linesOf('info', (log) => {
      log.write({ ...ok, keyId: 'key_1' });
      log.write({ ...ok, status: 503, invocationId: 'inv_1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    });
    assert.equal(lines.length, 2);
    const [first, second] = lines;
    assert.deepEqual(
      { ...first, time: 0, pid: 0 },
      {
        level: 30,
        time: 0,
        pid: 0,
        method: 'GET',
        route: '/api/v1/functions',
        status: 200,
        durationMs: 1.235,
        keyId: 'key_1',
        msg: 'request',
      },
    );
    assert.equal(second?.level, 50);
    assert.equal(second?.invocationId, 'inv_1');
    assert.equal(second?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('keeps only the 5xx lines at warn, and writes nothing when silent', async () => {
    const warn = await linesOf('warn', (log) => {
      log.write(ok);
      log.write({ ...ok, status: 500 });
    });
    assert.deepEqual(
      warn.map((l) => l.status),
      [500],
    );
    assert.deepEqual(await linesOf('silent', (log) => log.write({ ...ok, status: 500 })), []);
  });
});
