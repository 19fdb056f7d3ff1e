// The small-blob writer's thread (small-blob-writer.ts): each message is one blob to make
// durable, done with the blocking calls that cost this thread nothing to wait on.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort } from 'node:worker_threads';

export interface SmallBlobWrite {
  id: number;
  /** A new file in the staging folder: written and fsynced, then renamed to `target`. */
  staged: string;
  target: string;
  data: Uint8Array;
}

export type SmallBlobWritten = { id: number } | { id: number; error: { message: string; code?: string } };

/** Blob folders made or seen here: a write into one skips its mkdir. */
const folders = new Set<string>();

function write({ staged, target, data }: SmallBlobWrite): void {
  try {
    const fd = openSync(staged, 'wx');
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const folder = dirname(target);
    if (!folders.has(folder)) makeFolder(folder);
    try {
      renameSync(staged, target);
    } catch (err) {
      // The folder went away since (removed by hand): make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      makeFolder(folder);
      renameSync(staged, target);
    }
    folders.add(folder);
    syncDir(folder);
  } catch (err) {
    rmSync(staged, { force: true });
    throw err;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** As makeFolder in local-blob-store.ts: each folder made is fsynced in its parent. */
function makeFolder(folder: string): void {
  const first = mkdirSync(folder, { recursive: true });
  if (first === undefined) return;
  for (let made = folder; ; made = dirname(made)) {
    syncDir(dirname(made));
    if (made === first || dirname(made) === made) return;
  }
}

parentPort?.on('message', (message: SmallBlobWrite) => {
  let answer: SmallBlobWritten;
  try {
    write(message);
    answer = { id: message.id };
  } catch (err) {
    const { message: text, code } = err as NodeJS.ErrnoException;
    answer = { id: message.id, error: code ? { message: text, code } : { message: text } };
  }
  parentPort?.postMessage(answer);
});
