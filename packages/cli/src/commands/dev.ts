import { existsSync, statSync, watch } from 'node:fs';
import { join, sep } from 'node:path';
import type { FaaSClient, StoredLogLine } from '@faas/sdk';
import { CliError, describeError, EXIT } from '../exit-codes.ts';
import type { Output } from '../output.ts';
import { packIgnores } from '../pack.ts';
import { type DeployFlags, deploy } from './deploy.ts';

/** Saves come in bursts (an editor writes, renames, touches): one deploy after they settle. */
const SETTLE_MS = 150;
const LOG_POLL_MS = 500;

/**
 * `faas dev [path]`: deploys the folder, then again on every save, printing a refused deploy (a
 * compile error, with file and line) without stopping, and tails the function's logs, until
 * Ctrl-C. Deploys never overlap: a save during one makes one more after it.
 */
export async function dev(client: FaaSClient, out: Output, path: string, flags: DeployFlags): Promise<void> {
  if (!existsSync(path) || !statSync(path).isDirectory() || !existsSync(join(path, 'faas.json')))
    throw new CliError(`faas dev watches a folder with a faas.json: ${path} is not one`, EXIT.USAGE);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let name: string | undefined;
  let deploying: Promise<void> | undefined;
  let again = false;
  const redeploy = async (): Promise<void> => {
    do {
      again = false;
      try {
        name = await deploy(client, out, path, flags);
      } catch (err) {
        process.stderr.write(
          `faas dev: deploy refused, still serving the last version:\n${describeError(err)}\n`,
        );
      }
    } while (again && !stop.signal.aborted);
  };
  const schedule = () => {
    if (deploying) {
      again = true;
      return;
    }
    deploying = redeploy().finally(() => {
      deploying = undefined;
    });
  };

  // What `faas deploy` does not pack: changes there are not the function's.
  let ignores = packIgnores(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(path, { recursive: true, signal: stop.signal }, (_event, file) => {
    const changed = String(file ?? '')
      .split(sep)
      .join('/');
    if (changed === '.faasignore') {
      try {
        ignores = packIgnores(path);
      } catch {
        // The deploy it triggers says what is wrong with the file.
      }
    } else if (ignores(changed)) return;
    clearTimeout(timer);
    timer = setTimeout(schedule, SETTLE_MS);
  });
  watcher.on('error', (err) => {
    if (!stop.signal.aborted) process.stderr.write(`faas dev: watching ${path} failed: ${err.message}\n`);
    stop.abort();
  });

  await redeploy();
  if (!out.json) process.stderr.write(`faas dev: watching ${path} for changes (Ctrl-C stops)\n`);
  try {
    let afterSeq = name ? await endOfLogs(client, name) : 0;
    while (!stop.signal.aborted) {
      await new Promise((r) => setTimeout(r, LOG_POLL_MS));
      if (!name) continue;
      try {
        const page = await client.tailLogs({ functionName: name, afterSeq, limit: 500 });
        for (const line of page.items) writeLog(out, line);
        afterSeq = page.nextSeq;
      } catch (err) {
        process.stderr.write(`faas dev: reading logs failed: ${describeError(err)}\n`);
      }
    }
  } finally {
    clearTimeout(timer);
    watcher.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await deploying;
  }
}

/** The sequence number after the function's last log line: dev shows only what comes next. */
async function endOfLogs(client: FaaSClient, name: string): Promise<number> {
  let afterSeq = 0;
  for (;;) {
    const page = await client.tailLogs({ functionName: name, afterSeq, limit: 500 });
    afterSeq = page.nextSeq;
    if (page.items.length < 500) return afterSeq;
  }
}

function writeLog(out: Output, line: StoredLogLine): void {
  if (out.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else process.stdout.write(`[${line.functionName}] ${line.level.toUpperCase().padEnd(5)} ${line.message}\n`);
}
