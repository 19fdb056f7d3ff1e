import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { extract, pack } from 'tar-stream';

/** A flat or nested folder of regular files as a tar, in memory (checkpoint images are small). */
export async function tarFolder(dir: string): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const finished = new Promise<void>((resolve, reject) => {
    archive.on('end', resolve);
    archive.on('error', reject);
  });
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const info = await stat(path);
    if (!info.isFile()) continue;
    await new Promise<void>((resolve, reject) => {
      const entry = archive.entry({ name, size: info.size, mode: 0o600 }, (err) =>
        err ? reject(err) : resolve(),
      );
      createReadStream(path).on('error', reject).pipe(entry);
    });
  }
  archive.finalize();
  await finished;
  return Buffer.concat(chunks);
}

/** Writes a tar made by `tarFolder` into `dir`; entries that would leave it are refused. */
export async function untarInto(tar: Uint8Array, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.on('entry', (header, stream, next) => {
    const name = normalize(header.name);
    if (header.type !== 'file' || name.startsWith('..') || name.startsWith(sep)) {
      stream.resume();
      stream.on('end', next);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      const path = join(dir, name);
      mkdir(dirname(path), { recursive: true })
        .then(() => writeFile(path, Buffer.concat(chunks), { mode: 0o600 }))
        .then(() => next(), next);
    });
  });
  reader.end(tar);
  await done;
}
