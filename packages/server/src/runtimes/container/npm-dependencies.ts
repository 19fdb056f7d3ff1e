import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FaasError } from '@faas/core';
import { linkTree } from './code-cache.ts';

const INSTALL_TIMEOUT_MS = 5 * 60_000;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function runNpm(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true' },
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`npm ${args[0]} exited with ${code}: ${output.trim().split('\n').slice(-8).join('\n')}`),
        );
    });
  });
}

/**
 * Installs the npm dependencies a node function's package.json declares into its unpacked code
 * folder. Installs are cached by the hash of package.json and package-lock.json, so versions
 * with the same dependencies share one install. Install scripts do not run (they would run on
 * the host); a package.json without dependencies, or code that ships node_modules, is left alone.
 * @throws FaasError COMPILE_ERROR when npm fails.
 */
export async function installNpmDependencies(codeDir: string, cacheRoot: string): Promise<void> {
  const manifest = await readOptional(join(codeDir, 'package.json'));
  if (manifest === undefined || (await exists(join(codeDir, 'node_modules')))) return;
  let dependencies: Record<string, string>;
  try {
    dependencies = (JSON.parse(manifest) as { dependencies?: Record<string, string> }).dependencies ?? {};
  } catch (err) {
    throw new FaasError(
      ErrorCode.COMPILE_ERROR,
      `The function's package.json is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (Object.keys(dependencies).length === 0) return;
  const lock = await readOptional(join(codeDir, 'package-lock.json'));
  const key = createHash('sha256')
    .update(manifest)
    .update('\0')
    .update(lock ?? '')
    .digest('hex');
  const installed = join(cacheRoot, key);
  if (!(await exists(join(installed, '.complete')))) {
    const partial = `${installed}.${process.pid}.${Date.now()}.partial`;
    await mkdir(partial, { recursive: true });
    try {
      await copyFile(join(codeDir, 'package.json'), join(partial, 'package.json'));
      if (lock !== undefined)
        await copyFile(join(codeDir, 'package-lock.json'), join(partial, 'package-lock.json'));
      const common = ['--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
      await runNpm(lock === undefined ? ['install', ...common] : ['ci', ...common], partial);
      await mkdir(join(partial, 'node_modules'), { recursive: true });
      await writeFile(join(partial, '.complete'), '');
      await rm(installed, { recursive: true, force: true });
      await rename(partial, installed);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw new FaasError(
        ErrorCode.COMPILE_ERROR,
        `Installing the function's npm dependencies failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  await linkTree(join(installed, 'node_modules'), join(codeDir, 'node_modules'));
}
