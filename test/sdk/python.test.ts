import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

/**
 * The Python SDK's pytest suite (sdks/python/tests), run by `npm test` so that CI runs it: it
 * starts its own server (this Node) and, with Docker, exercises the sandbox API too.
 * `.ci/run` installs Debian's python3-pytest; without it this skips, saying so.
 */

const PYTHON = process.env.FAAS_TEST_PYTHON ?? 'python3';
const ROOT = new URL('../../', import.meta.url).pathname;

function skipReason(): string | false {
  try {
    execFileSync(PYTHON, ['-c', 'import pytest'], { stdio: 'ignore' });
    return false;
  } catch {
    return `${PYTHON} with pytest is not installed (Debian: python3-pytest)`;
  }
}

describe('the Python SDK', { skip: skipReason() }, () => {
  it('passes its pytest suite against a real server', { timeout: 15 * 60_000 }, async () => {
    try {
      await promisify(execFile)(
        PYTHON,
        ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'sdks/python/tests'],
        {
          cwd: ROOT,
          env: { ...process.env, FAAS_TEST_NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' },
          maxBuffer: 64 * 1024 * 1024,
        },
      );
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string };
      assert.fail(`pytest failed:\n${stdout ?? ''}\n${stderr ?? ''}`);
    }
  });
});
