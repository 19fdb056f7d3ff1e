import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { newExitMarker } from './exit-marker.ts';
import { jobLine, shellQuote } from './sandbox-script.ts';

function decode(line: string): string {
  assert.ok(line.endsWith('\n'));
  return Buffer.from(line.trimEnd(), 'base64').toString('utf8');
}

describe('sandbox job script', () => {
  it('quotes any string so the shell reads it back unchanged', () => {
    for (const value of ["it's", 'a "b" $HOME `x` \\ ;|&', '', 'line\nbreak']) {
      const echoed = execFileSync('sh', ['-c', `printf %s ${shellQuote(value)}`]).toString('utf8');
      assert.equal(echoed, value);
    }
  });

  it('writes files, exports env and runs the command as argv', () => {
    const script = decode(
      jobLine({
        exitMarker: newExitMarker(),
        command: ['python3', '-c', "print('hi')"],
        env: { A: "x'y" },
        files: { 'a/b.txt': 'hello' },
        workdir: '/w',
      }),
    );
    const lines = script.split('\n');
    assert.equal(lines[0], "cd '/w' || exit 126");
    assert.ok(lines.some((l) => l.includes("mkdir -p 'a'")));
    assert.ok(
      lines.some(
        (l) => l.includes(Buffer.from('hello').toString('base64')) && l.endsWith("> 'a/b.txt' || exit 126"),
      ),
    );
    assert.ok(lines.includes(`export A='x'\\''y'`));
    assert.ok(lines.includes(`'python3' '-c' 'print('\\''hi'\\'')'`));
  });

  it('writes the exit marker with the code on stdout and on stderr after the command, and exits with it', () => {
    const exitMarker = newExitMarker();
    // No workdir, files or env: the script is only the command and the markers, so the host's sh runs it.
    const script = decode(jobLine({ exitMarker, command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] }));
    const run = spawnSync('sh', ['-c', script]);
    assert.equal(run.status, 3);
    assert.equal(run.stdout.toString(), `out\n${exitMarker}3\n`);
    assert.equal(run.stderr.toString(), `err\n${exitMarker}3\n`);
  });

  it('rejects an empty command, bad env names and paths that leave the working dir', () => {
    const isValidation = (err: unknown) => (err as { code?: string }).code === ErrorCode.VALIDATION;
    const exitMarker = newExitMarker();
    assert.throws(() => jobLine({ exitMarker, command: [] }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: ['true'], env: { 'BAD-NAME': '1' } }), isValidation);
    assert.throws(
      () => jobLine({ exitMarker, command: ['true'], files: { '../etc/passwd': 'x' } }),
      isValidation,
    );
  });
});
