import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';

/**
 * A folder of regular files (a gVisor checkpoint image) as a tar stream, read file by file as
 * the consumer takes it: memory does not grow with the checkpoint's size.
 */
export function tarFolderStream(dir: string): Readable {
  const archive = pack();
  void (async () => {
    for (const name of await readdir(dir, { recursive: true })) {
      const path = join(dir, name);
      const info = await stat(path);
      if (!info.isFile()) continue;
      const entry = archive.entry({ name, size: info.size, mode: 0o600 });
      await pipeline(createReadStream(path), entry);
    }
    archive.finalize();
  })().catch((err: unknown) => archive.destroy(err as Error));
  // tar-stream's Pack is a streamx stream: a Node Readable over it, pulled as it is read.
  return Readable.from(archive, { objectMode: false });
}

/**
 * Writes a tar stream made by `tarFolderStream` into `dir`, entry by entry; entries that would
 * leave it, and anything but regular files, are skipped. Rejects if the stream fails (a blob
 * whose hash does not match fails at its end).
 */
export async function untarStream(source: Readable, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const name = normalize(header.name);
    if (header.type !== 'file' || name.startsWith('..') || name.startsWith(sep)) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const path = join(dir, name);
    mkdir(dirname(path), { recursive: true })
      .then(() => pipeline(stream, createWriteStream(path, { mode: 0o600 })))
      .then(() => next(), next);
  });
  const done = new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  // tar-stream's extract is a streamx stream: fed by hand, with its backpressure.
  const writable = () =>
    new Promise<void>((resolve) => {
      const go = () => {
        reader.off('drain', go);
        reader.off('close', go);
        resolve();
      };
      reader.on('drain', go);
      reader.on('close', go);
    });
  try {
    for await (const chunk of source) {
      if (reader.destroyed) break;
      if (!reader.write(chunk as Buffer)) await writable();
    }
  } catch (err) {
    reader.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
  reader.end(Buffer.alloc(0));
  await done;
}

/**
 * Fills `to` with the files of `from`: hard links where both are on one file system (a
 * checkpoint is only read by a restore), copies otherwise.
 */
export async function linkFolder(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from, { recursive: true })) {
    const source = join(from, name);
    const info = await stat(source);
    const target = join(to, name);
    if (info.isDirectory()) {
      await mkdir(target, { recursive: true });
      continue;
    }
    if (!info.isFile()) continue;
    await mkdir(dirname(target), { recursive: true });
    try {
      await link(source, target);
    } catch {
      await copyFile(source, target);
    }
  }
}
