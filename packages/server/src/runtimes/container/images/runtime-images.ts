import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-stream';

/** Where the image sources (Dockerfiles, agents) live: /images at the repository root. */
export const DEFAULT_IMAGES_DIR = fileURLToPath(new URL('../../../../../../images/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../../../../', import.meta.url));

/** One file of a build context: its bytes, or a path on disk for large files (the node binary). */
interface ContextFile {
  name: string;
  mode: number;
  source: { bytes: Buffer } | { path: string; size: number; sha256: string };
}

/** A runtime image: its build context and the tag that hashes it. */
export interface RuntimeImageSpec {
  name: 'node' | 'python' | 'go';
  tag: string;
  files: ContextFile[];
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

async function folderFiles(dir: string, prefix: string): Promise<ContextFile[]> {
  const files: ContextFile[] = [];
  for (const path of await listFiles(dir)) {
    files.push({
      name: `${prefix}${relative(dir, path)}`,
      mode: 0o644,
      source: { bytes: await readFile(path) },
    });
  }
  return files;
}

const binaryHashes = new Map<string, string>();

/** sha256 of a big file, remembered per path, size and mtime (hashing 120 MB costs ~0.3 s). */
async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const info = await stat(path);
  const key = `${path}:${info.size}:${info.mtimeMs}`;
  let sha256 = binaryHashes.get(key);
  if (!sha256) {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    sha256 = hash.digest('hex');
    binaryHashes.set(key, sha256);
  }
  return { sha256, size: info.size };
}

/**
 * The Node 24 binary to copy into the node image: the npm `node` package's (what npm scripts
 * run), else this process's own when it is Node 24 or newer. Debian 12 packages no Node 24.
 */
export function findNodeBinary(): string {
  const fromPackage = join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(fromPackage)) return fromPackage;
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) return process.execPath;
  throw new Error('No Node 24 binary found: run `npm install` at the repository root (the `node` package)');
}

function tagFor(name: string, baseTag: string, files: ContextFile[]): string {
  const hash = createHash('sha256').update(`base=${baseTag}\n`);
  for (const file of files) {
    const digest =
      'bytes' in file.source
        ? createHash('sha256').update(file.source.bytes).digest('hex')
        : file.source.sha256;
    hash.update(`${file.name} ${file.mode.toString(8)} ${digest}\n`);
  }
  return `faas/${name}:${hash.digest('hex').slice(0, 16)}`;
}

/** The node and python image specs, tagged by the content hash of every input. */
export async function runtimeImageSpecs(
  baseTag: string,
  imagesDir = DEFAULT_IMAGES_DIR,
  nodeBinary = findNodeBinary(),
): Promise<RuntimeImageSpec[]> {
  const node = await hashFile(nodeBinary);
  const nodeFiles: ContextFile[] = [
    {
      name: 'Dockerfile',
      mode: 0o644,
      source: { bytes: await readFile(join(imagesDir, 'node', 'Dockerfile')) },
    },
    { name: 'node', mode: 0o755, source: { path: nodeBinary, ...node } },
    ...(await folderFiles(join(imagesDir, 'agent', 'node'), 'agent/')),
  ];
  const pythonFiles: ContextFile[] = [
    {
      name: 'Dockerfile',
      mode: 0o644,
      source: { bytes: await readFile(join(imagesDir, 'python', 'Dockerfile')) },
    },
    ...(await folderFiles(join(imagesDir, 'agent', 'python'), 'agent/')),
  ];
  return [
    { name: 'node', tag: tagFor('node', baseTag, nodeFiles), files: nodeFiles },
    { name: 'python', tag: tagFor('python', baseTag, pythonFiles), files: pythonFiles },
  ];
}

/**
 * The go image's spec: Debian's Go toolchain, the Python agent and the Go launcher and runner
 * (images/go). Built apart from node and python, on the first go deploy: it is large.
 */
export async function goImageSpec(
  baseTag: string,
  imagesDir = DEFAULT_IMAGES_DIR,
): Promise<RuntimeImageSpec> {
  const files: ContextFile[] = [
    {
      name: 'Dockerfile',
      mode: 0o644,
      source: { bytes: await readFile(join(imagesDir, 'go', 'Dockerfile')) },
    },
    ...(await folderFiles(join(imagesDir, 'agent', 'python'), 'agent/')),
    ...(await folderFiles(join(imagesDir, 'agent', 'go'), 'go/')),
  ];
  return { name: 'go', tag: tagFor('go', baseTag, files), files };
}

/** The build context of an image as a tar stream (what `POST /build` takes). */
export function buildContext(spec: RuntimeImageSpec): NodeJS.ReadableStream {
  const tar = pack();
  void (async () => {
    try {
      for (const file of spec.files) {
        const header = { name: file.name, mode: file.mode, mtime: new Date(0) };
        if ('bytes' in file.source) {
          tar.entry(header, file.source.bytes);
          continue;
        }
        const { path, size } = file.source;
        await new Promise<void>((resolve, reject) => {
          const entry = tar.entry({ ...header, size }, (err) => (err ? reject(err) : resolve()));
          createReadStream(path).on('error', reject).pipe(entry);
        });
      }
      tar.finalize();
    } catch (err) {
      tar.destroy(err as Error);
    }
  })();
  return tar as unknown as NodeJS.ReadableStream;
}
