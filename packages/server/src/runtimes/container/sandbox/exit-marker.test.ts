import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ExitMarkerScanner,
  fileFailureHead,
  newExitMarker,
  StartLineScanner,
  startLine,
} from './exit-marker.ts';

/** Feeds the chunks; returns the output the scanner let through and the code it found. */
function scan(marker: string, chunks: string[]): { output: string; code: number | undefined } {
  const scanner = new ExitMarkerScanner(marker);
  let output = '';
  for (const chunk of chunks) output += scanner.push(Buffer.from(chunk)).toString();
  output += scanner.flush().toString();
  return { output, code: scanner.code };
}

describe('ExitMarkerScanner', () => {
  const marker = newExitMarker();

  it('takes the marker line out and reads the code, wherever the chunks split it', () => {
    const stream = `hello\nworld${marker}42\n`;
    for (let cut = 1; cut < stream.length; cut++) {
      assert.deepEqual(scan(marker, [stream.slice(0, cut), stream.slice(cut)]), {
        output: 'hello\nworld',
        code: 42,
      });
    }
    assert.deepEqual(scan(marker, [...stream]), { output: 'hello\nworld', code: 42 });
  });

  it('lets through what only looked like the start of the marker, and drops what comes after it', () => {
    const lookalike = marker.slice(0, 5);
    assert.deepEqual(scan(marker, [`a${lookalike}`, 'b']), { output: `a${lookalike}b`, code: undefined });
    assert.deepEqual(scan(marker, [`a${lookalike}`]), { output: `a${lookalike}`, code: undefined });
    assert.deepEqual(scan(marker, [`x${marker}0\nlate output`, 'more']), { output: 'x', code: 0 });
  });

  it('takes a marker only with a code of 1-3 digits up to 255 and a newline: anything else is output', () => {
    for (const fake of ['\n', 'x\n', '256\n', '1234\n', ' 1\n', '0x1\n', '-1\n', '1e2\n']) {
      assert.deepEqual(scan(marker, [`a${marker}${fake}b`]), {
        output: `a${marker}${fake}b`,
        code: undefined,
      });
    }
    assert.deepEqual(scan(marker, [`${marker}x\n${marker}255\n`]), { output: `${marker}x\n`, code: 255 });
  });

  it('never holds back more than a marker and a code, whatever follows a marker', () => {
    // A marker then megabytes without a newline: held, this would grow past any output cap.
    const scanner = new ExitMarkerScanner(marker);
    let passed = scanner.push(Buffer.from(marker)).length;
    for (let i = 0; i < 64; i++) passed += scanner.push(Buffer.alloc(16 * 1024, 0x37)).length;
    assert.equal(scanner.code, undefined);
    assert.ok(marker.length + 64 * 16 * 1024 - passed <= scanner.maxHeldBytes);
  });

  it('never matches another job’s marker', () => {
    const other = newExitMarker();
    assert.notEqual(other, marker);
    assert.deepEqual(scan(marker, [`${other}1\n`]), { output: `${other}1\n`, code: undefined });
  });
});

describe('StartLineScanner', () => {
  const marker = newExitMarker();
  const line = Buffer.from(startLine(marker));

  it('takes the start line off the front of stderr, however the chunks cut it', () => {
    for (let cut = 0; cut <= line.length; cut++) {
      const scanner = new StartLineScanner(marker);
      const data = Buffer.concat([line, Buffer.from('err\n')]);
      const out = Buffer.concat([scanner.push(data.subarray(0, cut)), scanner.push(data.subarray(cut))]);
      assert.equal(out.toString(), 'err\n', `cut at ${cut}`);
      assert.equal(scanner.seen, true);
    }
  });

  it('passes stderr on whole when it does not start with the line, and gives back what it held at the end', () => {
    const other = new StartLineScanner(marker);
    assert.equal(other.push(Buffer.from('boom\n')).toString(), 'boom\n');
    assert.equal(other.seen, false);
    const cut = new StartLineScanner(marker);
    assert.equal(cut.push(line.subarray(0, 5)).length, 0);
    assert.equal(cut.flush().toString(), line.subarray(0, 5).toString());
    assert.equal(cut.seen, false);
    // Another job's start line is output.
    const foreign = new StartLineScanner(marker);
    assert.equal(foreign.push(Buffer.from(startLine(newExitMarker()))).length, line.length);
    assert.equal(foreign.seen, false);
  });

  it("takes a file failure line in the start line's place, however the chunks cut it", () => {
    const reason = "can't create /etc/x: Read-only file system";
    const failure = Buffer.from(`${fileFailureHead(marker)}3 ${Buffer.from(reason).toString('base64')}\n`);
    const data = Buffer.concat([failure, Buffer.from(`${marker}126\n`)]);
    for (let cut = 0; cut <= failure.length; cut++) {
      const scanner = new StartLineScanner(marker);
      const out = Buffer.concat([scanner.push(data.subarray(0, cut)), scanner.push(data.subarray(cut))]);
      assert.equal(out.toString(), `${marker}126\n`, `cut at ${cut}`);
      assert.deepEqual(scanner.fileFailure, { index: 3, reason });
      assert.equal(scanner.seen, true);
    }
  });

  it('passes on as output what only looks like a file failure line', () => {
    for (const text of [
      `${fileFailureHead(marker)}x ${Buffer.from('r').toString('base64')}\n`,
      `${fileFailureHead(marker)}1 not base64!\n`,
      `${fileFailureHead(newExitMarker())}1 cg==\n`,
    ]) {
      const scanner = new StartLineScanner(marker);
      assert.equal(scanner.push(Buffer.from(text)).toString(), text);
      assert.equal(scanner.fileFailure, undefined);
    }
    // No newline within its bound: output, not held for ever.
    const endless = new StartLineScanner(marker);
    const long = Buffer.from(`${fileFailureHead(marker)}1 ${'A'.repeat(8192)}`);
    assert.equal(endless.push(long).length, long.length);
    assert.equal(endless.fileFailure, undefined);
  });
});
