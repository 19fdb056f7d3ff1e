import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { CliError, EXIT } from './exit-codes.ts';
import { DEFAULT_IGNORE, IgnoreList, type IgnoreMatch } from './ignore.ts';
import { readLocalFile } from './input.ts';
import { serverLimits } from './limits.ts';

/** Never packed, and not worth a line each: dependencies (the server installs them) and VCS. */
const SKIP = new Set(['node_modules', '.git', '.faas']);
/** Docker sends these whatever its ignore file says: the build needs them. */
const ALWAYS_IN_IMAGE = new Set(['Dockerfile', '.dockerignore']);
/** An image's context is held in memory (it is hashed for the tag); far above any sane one. */
export const MAX_IMAGE_CONTEXT_BYTES = 1024 * 1024 * 1024;
/** An ignore file is a list of patterns; anything bigger is not one. */
const MAX_IGNORE_FILE_BYTES = 1024 * 1024;

export interface PackOptions {
  /** An image's build context: `.dockerignore` applies too, and entries are dated 1970. */
  image?: boolean;
  /** Refused above this total, before any file is read. @default the server's code limit */
  maxBytes?: number;
}

/** What a folder walk found: the files to pack, and what it left out. */
export interface FolderFiles {
  files: Array<{ path: string; size: number; mode: number }>;
  /** Paths the default ignore list left out (a folder ends in `/`), for the user to see. */
  leftOut: string[];
  /** Symlinks and special files, which are never packed: `path (why)`. */
  skipped: string[];
  bytes: number;
}

/**
 * The files of a folder (relative POSIX paths) that `faas deploy` packs: not dependencies, VCS,
 * or what the default list, `.faasignore` and (for an image) `.dockerignore` leave out.
 */
export function listFiles(root: string, options: PackOptions = {}): FolderFiles {
  const own = ownRules(root);
  const docker = options.image
    ? new IgnoreList('dockerignore').add(readIgnoreFile(root, '.dockerignore'), '.dockerignore')
    : undefined;
  const found: FolderFiles = { files: [], leftOut: [], skipped: [], bytes: 0 };
  const walk = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const isDir = entry.isDirectory();
      if (!(options.image && ALWAYS_IN_IMAGE.has(path))) {
        const match = own.ignores(path, isDir);
        if (match) {
          if (match.rule.source === 'default') found.leftOut.push(shown(match, path, isDir));
          continue;
        }
        // Docker can bring a file back from inside a folder it leaves out: then look inside.
        if (docker?.ignores(path, isDir) && !(isDir && docker.reachesIntoIgnoredFolders)) continue;
      }
      if (isDir) walk(join(dir, entry.name), path);
      else if (entry.isSymbolicLink()) found.skipped.push(`${path} (a symlink)`);
      else if (!entry.isFile()) found.skipped.push(`${path} (not a regular file)`);
      else {
        const stat = statSync(join(dir, entry.name));
        found.files.push({ path, size: stat.size, mode: stat.mode & 0o777 });
        found.bytes += stat.size;
      }
    }
  };
  walk(root, '');
  const maxBytes = options.maxBytes ?? (options.image ? MAX_IMAGE_CONTEXT_BYTES : serverLimits().codeBytes);
  if (found.bytes > maxBytes)
    throw new CliError(
      `The files of ${root} are ${found.bytes} bytes, over the limit of ${maxBytes} bytes; leave some out with a .faasignore`,
      EXIT.USAGE,
    );
  found.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  found.leftOut.sort();
  found.skipped.sort();
  return found;
}

/** How a left-out path is shown: a folder once, with a trailing `/`, not each file in it. */
function shown(match: IgnoreMatch, path: string, isDir: boolean): string {
  return match.at === path && !isDir ? path : `${match.at}/`;
}

/** The default list, then the folder's `.faasignore`: one list, so `!` there overrides a default. */
function ownRules(root: string): IgnoreList {
  return new IgnoreList('gitignore')
    .add(DEFAULT_IGNORE, 'default')
    .add(readIgnoreFile(root, '.faasignore'), '.faasignore');
}

/** Whether `faas deploy` leaves a path of the folder (relative, `/`-separated) out of the code. */
export function packIgnores(root: string): (path: string) => boolean {
  const own = ownRules(root);
  return (path) => {
    if (path.split('/').some((segment) => SKIP.has(segment))) return true;
    let isDir = false;
    try {
      isDir = lstatSync(join(root, path)).isDirectory();
    } catch {}
    return own.ignores(path, isDir) !== undefined;
  };
}

function readIgnoreFile(root: string, name: string): string {
  const path = join(root, name);
  return existsSync(path) ? readLocalFile(path, MAX_IGNORE_FILE_BYTES).toString('utf8') : '';
}

/**
 * A folder's files as an uncompressed tar. An image's context has every entry dated 1970, so the
 * same files make the same bytes (their hash is the image's tag).
 */
export async function tarFolder(
  root: string,
  options: PackOptions = {},
): Promise<{ tar: Buffer; files: number; bytes: number; leftOut: string[]; skipped: string[] }> {
  const { files, leftOut, skipped } = listFiles(root, options);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  let bytes = 0;
  for (const file of files) {
    const data = readFileSync(join(root, file.path));
    bytes += data.length;
    pack.entry(
      {
        name: file.path,
        size: data.length,
        mode: file.mode,
        ...(options.image ? { mtime: new Date(0) } : {}),
      },
      data,
    );
  }
  pack.finalize();
  await done;
  return { tar: Buffer.concat(chunks), files: files.length, bytes, leftOut, skipped };
}

/** A folder as a base64 tar.gz, the `archive` form of a function's code. */
export async function packFolder(
  root: string,
  options: PackOptions = {},
): Promise<{
  archive: string;
  format: 'tar.gz';
  files: number;
  bytes: number;
  leftOut: string[];
  skipped: string[];
}> {
  const { tar: bytesOfTar, ...rest } = await tarFolder(root, options);
  return { archive: gzipSync(bytesOfTar).toString('base64'), format: 'tar.gz', ...rest };
}
