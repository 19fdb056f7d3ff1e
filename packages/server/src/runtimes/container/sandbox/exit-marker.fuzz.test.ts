import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { ExitMarkerScanner, newExitMarker } from './exit-marker.ts';

/**
 * The scanner reads what a sandboxed command writes: any bytes, in any chunks. Differential fuzz:
 * streamed in chunks of every size, it must answer what a whole-buffer reading answers, and never
 * hold back more than a marker and a code.
 */
const marker = newExitMarker();
const markerBytes = Buffer.from(marker);

/** The whole-buffer answer: output before the first marker followed by a code, and the code. */
function reference(input: Buffer): { output: Buffer; code: number | undefined } {
  for (let from = 0; ; ) {
    const at = input.indexOf(markerBytes, from);
    if (at < 0) return { output: input, code: undefined };
    const line = /^([0-9]{1,3})\n/.exec(input.subarray(at + markerBytes.length).toString('latin1'));
    if (line && Number(line[1]) <= 255) return { output: input.subarray(0, at), code: Number(line[1]) };
    from = at + 1;
  }
}

function streamed(input: Buffer, cuts: number[]): { output: Buffer; code: number | undefined } {
  const scanner = new ExitMarkerScanner(marker);
  const out: Buffer[] = [];
  let fed = 0;
  let emitted = 0;
  for (let at = 0, i = 0; at < input.length; i++) {
    const size = Math.max(1, cuts[i % cuts.length] as number);
    const chunk = input.subarray(at, at + size);
    at += chunk.length;
    fed += chunk.length;
    const kept = scanner.push(chunk);
    out.push(kept);
    emitted += kept.length;
    if (scanner.code === undefined)
      assert.ok(fed - emitted <= scanner.maxHeldBytes, `held ${fed - emitted} bytes`);
  }
  out.push(scanner.flush());
  return { output: Buffer.concat(out), code: scanner.code };
}

describe('ExitMarkerScanner fuzz', () => {
  it('answers the whole-buffer reading for any bytes in any chunks, holding back at most a marker', async () => {
    const seeds = [
      `hello\n${marker}0\n`,
      `${marker}255\n${marker}1\n`,
      `x${marker}256\ny${marker}12\n`,
      `${marker.slice(0, 10)}${marker}7`,
      `${marker}\n${marker}a\n${marker}1234\n`,
      `\x1e\x1e${marker}${marker}3\nafter`,
      'no marker at all\n',
    ].map((s) => Buffer.from(s));
    const report = await fuzz({
      seeds,
      maxBytes: 16 * 1024,
      run(bytes) {
        const input = Buffer.from(bytes);
        const expected = reference(input);
        // Chunk sizes taken from the input itself, plus one chunk and one byte at a time.
        const cuts = [...input.subarray(0, 8)].map((b) => 1 + (b % 61));
        for (const sizes of [[input.length || 1], [1], cuts.length > 0 ? cuts : [3]]) {
          const got = streamed(input, sizes);
          assert.equal(got.code, expected.code);
          assert.ok(got.output.equals(expected.output), 'output differs from the whole-buffer reading');
        }
      },
    });
    assert.ok(report.runs > 0);
  });
});
