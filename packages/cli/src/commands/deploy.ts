import { existsSync, type Stats, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { FunctionRuntime } from '@faas/core';
import type { FaaSClient, FunctionSpec } from '@faas/sdk';
import ora from 'ora';
import { CliError, EXIT, fileProblem } from '../exit-codes.ts';
import { buildFunctionImage } from '../function-image.ts';
import { envPairs, int, readLocalFile } from '../input.ts';
import { LIMIT_HINT, serverLimits } from '../limits.ts';
import { type Output, print } from '../output.ts';
import { packFolder } from '../pack.ts';

export interface DeployFlags {
  name?: string;
  runtime?: string;
  handler?: string;
  env?: string[];
  timeout?: string;
  memory?: string;
  concurrency?: string;
  route?: string[];
  description?: string;
}

/** A faas.json is a few settings; a bigger one is a mistake. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

const RUNTIME_BY_EXT: Record<string, FunctionRuntime> = {
  '.js': 'js',
  '.mjs': 'js',
  '.ts': 'ts',
  '.py': 'python',
  '.wasm': 'wasm',
};

/**
 * `faas deploy [path]`: a folder with faas.json, or one file; flags override the manifest.
 * Resolves to the function's name (`faas dev` follows its logs).
 */
export async function deploy(
  client: FaaSClient,
  out: Output,
  path: string,
  flags: DeployFlags,
): Promise<string> {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new CliError(`Cannot deploy ${path}: ${fileProblem(err as NodeJS.ErrnoException)}`, EXIT.USAGE);
  }
  const limits = serverLimits();
  let spec: FunctionSpec = {};
  let summary: string;
  if (stat.isDirectory()) {
    const manifestPath = join(path, 'faas.json');
    if (existsSync(manifestPath)) {
      const manifest = readLocalFile(manifestPath, MAX_MANIFEST_BYTES).toString('utf8');
      try {
        spec = JSON.parse(manifest) as FunctionSpec;
      } catch (err) {
        throw new CliError(`${manifestPath} is not valid JSON: ${(err as Error).message}`, EXIT.USAGE);
      }
    }
    spec.name ??= basename(path.replace(/\/+$/, '') || process.cwd());
    if ((flags.runtime ?? spec.runtime) === 'image' && !spec.image && existsSync(join(path, 'Dockerfile'))) {
      // The folder is the image: built here, in the server's engine; the code is in the image.
      const name = flags.name ?? spec.name;
      const built = await buildFunctionImage(path, name, (message) => {
        if (!out.json) process.stderr.write(`${name}: ${message}\n`);
      });
      reportLeftOut(name, built);
      spec.image = built.tag;
      summary = `image ${spec.image}`;
    } else {
      const packed = await packFolder(path, { maxBytes: limits.codeBytes });
      reportLeftOut(flags.name ?? spec.name, packed);
      spec.code = { archive: packed.archive, format: packed.format };
      summary = `${packed.files} files, ${packed.bytes} bytes`;
    }
  } else if (!stat.isFile()) {
    // A FIFO would block the read for ever and a device never ends.
    throw new CliError(`Cannot deploy ${path}: it is not a regular file or a folder`, EXIT.USAGE);
  } else if (extname(path) === '.wasm') {
    // A module is binary: sent as base64, stored as main.wasm (the default handler's file).
    const bytes = readLocalFile(path, limits.codeBytes, LIMIT_HINT);
    spec.runtime = 'wasm';
    spec.name = basename(path, '.wasm');
    spec.code = { wasm: bytes.toString('base64') };
    summary = `${bytes.byteLength} bytes`;
  } else {
    const ext = extname(path);
    spec.runtime = RUNTIME_BY_EXT[ext];
    spec.name = basename(path, ext);
    const code = readLocalFile(path, limits.codeBytes, LIMIT_HINT).toString('utf8');
    // Sent under its own name, so compile errors and stack traces name the user's file.
    spec.code = { files: { [basename(path)]: code } };
    spec.handler = `${basename(path, ext)}.${spec.runtime === 'python' ? 'handler' : 'default'}`;
    summary = `${Buffer.byteLength(code)} bytes`;
  }
  applyFlags(spec, flags);
  if (!spec.runtime)
    throw new CliError(
      'Say which runtime: --runtime js|ts|node|python|go|image|wasm, or "runtime" in faas.json',
      EXIT.USAGE,
    );
  const name = spec.name as string;
  const { name: _drop, ...body } = spec;
  const spinner =
    out.json || !process.stderr.isTTY
      ? undefined
      : ora({ text: `Deploying ${name} (${summary})`, stream: process.stderr }).start();
  // Container functions are prepared before the deploy answers (image build, dependency
  // install): say which step it is in, on the spinner or, without a terminal, as lines.
  const onProgress = (message: string) => {
    if (spinner) spinner.text = `Deploying ${name}: ${message}…`;
    else if (!out.json) process.stderr.write(`${name}: ${message}…\n`);
  };
  try {
    const { record, outcome } = await client.deploy(name, body, { onProgress });
    spinner?.succeed(`${outcome === 'unchanged' ? 'Unchanged' : 'Deployed'} ${name}`);
    print(out, { ...record, outcome }, () =>
      [
        `${record.name} v${record.latestVersion} (${outcome === 'unchanged' ? 'no change, no new version' : outcome})`,
        `  runtime ${record.latest.runtime}, handler ${record.latest.handler}, code ${record.latest.codeSizeBytes} bytes sha256:${record.latest.codeSha256.slice(0, 12)}`,
        ...record.latest.routes.map((r) => `  route ${r.method} ${r.path}`),
        `  invoke: faas invoke ${record.name} '{}'   or   POST /api/v1/functions/${record.name}/invoke`,
      ].join('\n'),
    );
    return record.name;
  } catch (err) {
    spinner?.fail(`Deploy of ${name} failed`);
    throw err;
  }
}

/**
 * Says on stderr what was not packed, so a deploy never surprises: what the default list left out
 * (it may be a file the code needs) and each symlink or special file (an import of one would fail
 * at every call).
 */
function reportLeftOut(name: string, packed: { leftOut: string[]; skipped: string[] }): void {
  if (packed.leftOut.length > 0)
    process.stderr.write(
      `${name}: left out by the default ignore list (a .faasignore line !<pattern> keeps one): ${packed.leftOut.join(', ')}\n`,
    );
  for (const skipped of packed.skipped)
    process.stderr.write(`${name}: warning: not packed: ${skipped}; only regular files are\n`);
}

function applyFlags(spec: FunctionSpec, f: DeployFlags): void {
  if (f.name) spec.name = f.name;
  // The server validates the name; the CLI passes it through.
  if (f.runtime) spec.runtime = f.runtime as FunctionRuntime;
  if (f.handler) spec.handler = f.handler;
  if (f.description) spec.description = f.description;
  if (f.timeout) spec.timeoutMs = int(f.timeout, '--timeout');
  if (f.memory) spec.memoryMb = int(f.memory, '--memory');
  if (f.concurrency) spec.maxConcurrency = int(f.concurrency, '--concurrency');
  if (f.route?.length) spec.routes = f.route;
  if (f.env?.length) spec.env = { ...spec.env, ...envPairs(f.env) };
}
