import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { newExitMarker, StartLineScanner, startLine } from './exit-marker.ts';
import { BUSYBOX_MOUNT, jobLine, type SandboxJob, shellQuote } from './sandbox-script.ts';

function decode(line: string): string {
  assert.ok(line.endsWith('\n'));
  return Buffer.from(line.trimEnd(), 'base64').toString('utf8');
}

/** Debian's busybox-static (scripts/install-engine.sh): the shim's shell. */
const busybox = '/bin/busybox';

describe('sandbox job script', () => {
  it('quotes any string so the shell reads it back unchanged', () => {
    for (const value of ["it's", 'a "b" $HOME `x` \\ ;|&', '', 'line\nbreak']) {
      const echoed = execFileSync('sh', ['-c', `printf %s ${shellQuote(value)}`]).toString('utf8');
      assert.equal(echoed, value);
    }
  });

  it('writes files, exports env and runs the command as argv', () => {
    const exitMarker = newExitMarker();
    const script = decode(
      jobLine({
        exitMarker,
        command: ['python3', '-c', "print('hi')"],
        env: { A: "x'y" },
        files: { 'a/b.txt': 'hello' },
        workdir: '/w',
      }),
    );
    const lines = script.split('\n');
    assert.equal(lines[0], "cd '/w' || exit 126");
    const write = lines.findIndex((l) => l.includes(Buffer.from('hello').toString('base64')));
    assert.ok(lines[write]?.includes("mkdir -p 'a' && "));
    assert.ok(lines[write]?.endsWith(`> 'a/b.txt'; } 2>&1 ) || faas_file_failed 0 "$faas_err"`));
    const started = lines.indexOf(`printf '%s\\n' '${exitMarker}start' >&2`);
    assert.ok(started > write, 'the start line once the files are written');
    assert.ok(lines.includes(`export A='x'\\''y'`));
    assert.ok(
      lines.includes(
        `if faas_find 'python3'; then (exec -a 'python3' "$faas_path" '-c' 'print('\\''hi'\\'')')`,
      ),
    );
  });

  // The shim is busybox's shell, which runs its own applet for any name it knows: the host's
  // busybox shows what a sandbox does, with the host's GNU tools standing in for the image's.
  const runInBusybox = (job: Omit<SandboxJob, 'exitMarker'>) => {
    const exitMarker = newExitMarker();
    const run = spawnSync(busybox, ['sh', '-c', decode(jobLine({ exitMarker, ...job }))]);
    return {
      status: run.status,
      stdout: run.stdout.toString().replace(`${exitMarker}${run.status}\n`, ''),
      stderr: run.stderr
        .toString()
        .replace(startLine(exitMarker), '')
        .replace(`${exitMarker}${run.status}\n`, ''),
    };
  };
  const gnuSed = spawnSync('sed', ['--version']).stdout?.toString().split('\n')[0] ?? '';

  it('runs an argv with the program found on PATH and a string with /bin/sh, not busybox applets', {
    skip: !existsSync(busybox) || !gnuSed.includes('GNU') ? 'needs a static busybox and GNU sed' : false,
  }, () => {
    const argv = runInBusybox({ command: ['sed', '--version'] });
    assert.equal(argv.status, 0, argv.stderr);
    assert.equal(argv.stdout.split('\n')[0], gnuSed);
    const string = runInBusybox({ command: 'sed --version | head -n 1; echo "$0"' });
    assert.equal(string.stdout, `${gnuSed}\n/bin/sh\n`);
    const missing = runInBusybox({ command: ['no-such-tool-here', 'x'] });
    assert.equal(missing.status, 127);
    assert.equal(missing.stderr, 'no-such-tool-here: not found\n');
    // The job's env comes first: a PATH it sets is the one searched.
    const path = runInBusybox({ command: ['sed', '--version'], env: { PATH: '/nowhere' } });
    assert.equal(path.status, 127);
    const slash = runInBusybox({ command: ['/bin/echo', "it's"] });
    assert.equal(slash.stdout, "it's\n");
  });

  it('writes the start line on stderr first, the exit marker with the code on stdout and on stderr after the command, and exits with it', () => {
    const exitMarker = newExitMarker();
    // No workdir, files or env: the script is only the command and the markers, so the host's
    // busybox shell runs it as the shim would.
    const script = decode(jobLine({ exitMarker, command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] }));
    const run = spawnSync(busybox, ['sh', '-c', script]);
    assert.equal(run.status, 3);
    assert.equal(run.stdout.toString(), `out\n${exitMarker}3\n`);
    assert.equal(run.stderr.toString(), `${startLine(exitMarker)}err\n${exitMarker}3\n`);
  });

  it("reports a file it cannot write in the start line's place, with the shell's reason, and runs nothing", {
    skip: existsSync(busybox) ? false : 'needs a static busybox',
  }, () => {
    const exitMarker = newExitMarker();
    const workdir = mkdtempSync(join(tmpdir(), 'faas-job-'));
    try {
      const script = decode(
        jobLine({
          exitMarker,
          command: 'echo ran',
          files: { 'ok.txt': 'fine', 'x/y.txt': 'no' },
          workdir,
        }),
      ).replaceAll(BUSYBOX_MOUNT, busybox);
      // A file where the folder of the second would go: it cannot be made.
      writeFileSync(join(workdir, 'x'), 'a file');
      const run = spawnSync(busybox, ['sh', '-c', script]);
      assert.equal(run.status, 126);
      assert.equal(run.stdout.toString(), `${exitMarker}126\n`, 'the command did not run');
      const scanner = new StartLineScanner(exitMarker);
      assert.equal(scanner.push(run.stderr).toString(), `${exitMarker}126\n`);
      assert.equal(scanner.fileFailure?.index, 1);
      assert.match(scanner.fileFailure?.reason ?? '', /can't create directory '?x'?: File exists/);
      assert.equal(readFileSync(join(workdir, 'ok.txt'), 'utf8'), 'fine');
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  });

  it('rejects an empty command, bad env names and paths that leave the working dir', () => {
    const isValidation = (err: unknown) => (err as { code?: string }).code === ErrorCode.VALIDATION;
    const exitMarker = newExitMarker();
    assert.throws(() => jobLine({ exitMarker, command: [] }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: '' }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: [''] }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: 'echo a\u0000b' }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: ['true'], env: { A: 'x\u0000y' } }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: ['true'], files: { 'a\u0000b': 'x' } }), isValidation);
    assert.throws(() => jobLine({ exitMarker, command: ['true'], env: { 'BAD-NAME': '1' } }), isValidation);
    assert.throws(
      () => jobLine({ exitMarker, command: ['true'], files: { '../etc/passwd': 'x' } }),
      isValidation,
    );
  });
});
