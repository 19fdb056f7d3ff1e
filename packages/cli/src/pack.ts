import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const SKIP = new Set(['node_modules', '.git', '.faas']);

/** The files of a folder (relative POSIX paths), skipping dependencies and VCS folders. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(relative(root, full).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/**
 * A folder's files as an uncompressed tar. `fixedMtime`: every entry dated 1970, so the same files
 * make the same bytes (an image function's build context, whose hash is the image's tag).
 */
export async function tarFolder(
  root: string,
  fixedMtime = false,
): Promise<{ tar: Buffer; files: number; bytes: number }> {
  const files = listFiles(root);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  let bytes = 0;
  for (const file of files) {
    const data = readFileSync(join(root, file));
    bytes += data.length;
    const mode = statSync(join(root, file)).mode & 0o777;
    pack.entry({ name: file, size: data.length, mode, ...(fixedMtime ? { mtime: new Date(0) } : {}) }, data);
  }
  pack.finalize();
  await done;
  return { tar: Buffer.concat(chunks), files: files.length, bytes };
}

/** A folder as a base64 tar.gz, the `archive` form of a function's code. */
export async function packFolder(
  root: string,
): Promise<{ archive: string; format: 'tar.gz'; files: number; bytes: number }> {
  const { tar: bytesOfTar, files, bytes } = await tarFolder(root);
  return { archive: gzipSync(bytesOfTar).toString('base64'), format: 'tar.gz', files, bytes };
}
