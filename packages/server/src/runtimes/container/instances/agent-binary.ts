import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, FaasError } from '@faas/core';

const SOURCE = fileURLToPath(
  new URL('../../../../../../images/sandbox-agent/sandbox-agent.c', import.meta.url),
);

/**
 * The static sandbox agent binary for instances, compiled from its C source with the host's gcc
 * on first use (about a second) and kept under `dir` by source hash, so an unchanged source is
 * never rebuilt. Static, so it runs in any image, with or without a libc.
 */
export async function sandboxAgentBinary(dir: string): Promise<string> {
  const source = await readFile(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const binary = join(dir, `faas-sandbox-agent-${hash}`);
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    const gcc = spawn('gcc', ['-static', '-O2', '-o', partial, SOURCE], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    gcc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    gcc.on('error', (err) =>
      reject(
        new FaasError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          `Instances need gcc to build the sandbox agent (apt-get install gcc libc6-dev): ${err.message}`,
        ),
      ),
    );
    gcc.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new FaasError(
              ErrorCode.RUNTIME_UNAVAILABLE,
              `Building the sandbox agent failed: ${stderr.slice(-2000)}`,
            ),
          ),
    );
  });
  await rename(partial, binary);
  return binary;
}
