import { link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type BlobStore, ErrorCode, FaasError } from '@faas/core';
import { extract } from 'tar-stream';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What a code folder was unpacked for: the blob, and the project whose functions use it. */
export interface CodeOrigin {
  project: string;
  codeSha256: string;
}

/** Work on a freshly unpacked code folder before it is used (installing its dependencies). */
export type CodePreparation = (
  dir: string,
  origin: CodeOrigin,
  onProgress: (message: string) => void,
) => Promise<void>;

/**
 * Function code on the host's disk: each code blob (a tar of the function's files) is unpacked
 * once per project into `<root>/<project>/<sha256>/`, then hard-linked into a container's folder
 * when a container is given that function. Hard links cost no copying, and the folder is mounted
 * read-only. Per project, because what is installed into the folder is: two projects deploying
 * the same code share no install.
 */
export class CodeCache {
  #root: string;
  #blobs: BlobStore;
  #unpacking = new Map<string, Promise<string>>();

  #prepare: CodePreparation;

  /** `prepare` runs once on each freshly unpacked folder (dependency installs). */
  constructor(root: string, blobs: BlobStore, prepare: CodePreparation = async () => {}) {
    this.#root = root;
    this.#blobs = blobs;
    this.#prepare = prepare;
  }

  /**
   * The unpacked folder of a code blob, unpacking it on first use. `onProgress` hears of slow
   * steps of the unpacking this call starts (a call that joins one in flight hears nothing).
   */
  unpacked(origin: CodeOrigin, onProgress: (message: string) => void = () => {}): Promise<string> {
    const key = `${origin.project}/${origin.codeSha256}`;
    let promise = this.#unpacking.get(key);
    if (!promise) {
      promise = this.#unpack(origin, onProgress);
      promise.catch(() => this.#unpacking.delete(key));
      this.#unpacking.set(key, promise);
    }
    return promise;
  }

  async #unpack(origin: CodeOrigin, onProgress: (message: string) => void): Promise<string> {
    const sha256 = origin.codeSha256;
    const dir = join(this.#root, origin.project, sha256);
    if (await exists(join(dir, '.complete'))) return dir;
    const bytes = await this.#blobs.get(sha256);
    if (!bytes) {
      throw new FaasError(
        ErrorCode.INVALID_ARCHIVE,
        `The function's code blob ${sha256} is missing from the blob store`,
      );
    }
    const partial = `${dir}.${process.pid}.${Date.now()}.partial`;
    await mkdir(partial, { recursive: true, mode: 0o755 });
    try {
      await extractTar(bytes, partial);
      await this.#prepare(partial, origin, onProgress);
      await writeFile(join(partial, '.complete'), '');
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw err;
    }
    return dir;
  }

  /**
   * Removes the folders of code no version names (asked through `named`, up to 500 at a time)
   * unpacked before `unpackedBefore`, and unpacks a crash left half done. A container made from
   * a folder keeps its hard links, and the next one unpacks the code again from the blob store.
   * Resolves to how many folders went.
   */
  async collect(
    named: (sha256s: readonly string[]) => Promise<Set<string>>,
    unpackedBefore: number,
  ): Promise<number> {
    let removed = 0;
    for (const project of await readdir(this.#root).catch(() => [] as string[])) {
      const folder = join(this.#root, project);
      const old: string[] = [];
      for (const name of await readdir(folder).catch(() => [] as string[])) {
        const unpacked = SHA256_HEX.test(name);
        const mark = join(folder, name, unpacked ? '.complete' : '');
        const at = (await stat(mark).catch(() => undefined))?.mtimeMs;
        if (at === undefined || at >= unpackedBefore) continue;
        if (unpacked) {
          old.push(name);
        } else if (name.endsWith('.partial')) {
          await rm(join(folder, name), { recursive: true, force: true });
        }
      }
      for (let i = 0; i < old.length; i += 500) {
        const batch = old.slice(i, i + 500);
        const kept = await named(batch);
        for (const sha256 of batch.filter((sha) => !kept.has(sha))) {
          this.#unpacking.delete(`${project}/${sha256}`);
          await rm(join(folder, sha256), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Bounds on what an archive may unpack to. */
export interface TarLimits {
  /** Bytes of file contents. @default unbounded */
  maxBytes?: number;
  /** Files and folders. @default unbounded */
  maxEntries?: number;
}

/**
 * Unpacks regular files and folders from a tar (gzipped or not) or a tar stream; refuses paths
 * that leave the folder and archives past `limits`; skips links and devices. Modes are 0644, or
 * 0755 when executable: no setuid bits come through.
 * @throws FaasError INVALID_ARCHIVE
 */
export async function extractTar(
  source: Uint8Array | Readable,
  dest: string,
  limits: TarLimits = {},
): Promise<void> {
  const input = source instanceof Uint8Array ? bytesStream(source) : source;
  const tar = extract();
  input.on('error', (err) => tar.destroy(err));
  input.pipe(tar);
  let bytes = 0;
  let entries = 0;
  try {
    for await (const entry of tar) {
      entries += 1;
      if (limits.maxEntries !== undefined && entries > limits.maxEntries) {
        throw new FaasError(
          ErrorCode.INVALID_ARCHIVE,
          `The archive has more than ${limits.maxEntries} entries`,
        );
      }
      const name = normalize(entry.header.name).replace(/^(\.\/)+/, '');
      if (name === '..' || name.startsWith(`..${sep}`) || name.startsWith(sep)) {
        throw new FaasError(
          ErrorCode.INVALID_ARCHIVE,
          `The code archive has a path outside its root: ${entry.header.name.slice(0, 200)}`,
        );
      }
      const target = join(dest, name);
      if (entry.header.type === 'directory') {
        await mkdir(target, { recursive: true, mode: 0o755 });
        entry.resume();
      } else if (entry.header.type === 'file') {
        const parent = target.slice(0, target.lastIndexOf(sep));
        await mkdir(parent, { recursive: true, mode: 0o755 });
        const chunks: Buffer[] = [];
        for await (const chunk of entry) {
          bytes += (chunk as Buffer).length;
          if (limits.maxBytes !== undefined && bytes > limits.maxBytes) {
            throw new FaasError(
              ErrorCode.INVALID_ARCHIVE,
              `The archive holds more than ${limits.maxBytes} bytes`,
            );
          }
          chunks.push(chunk as Buffer);
        }
        const executable = ((entry.header.mode ?? 0o644) & 0o111) !== 0;
        await writeFile(target, Buffer.concat(chunks), { mode: executable ? 0o755 : 0o644 });
      } else {
        // Links and devices are not part of a function's code.
        entry.resume();
      }
    }
  } catch (err) {
    input.unpipe(tar);
    tar.destroy();
    if (err instanceof FaasError) throw err;
    throw new FaasError(
      ErrorCode.INVALID_ARCHIVE,
      `The archive could not be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

function bytesStream(bytes: Uint8Array): Readable {
  const source = Readable.from([Buffer.from(bytes)]);
  return isGzip(bytes) ? source.pipe(createGunzip()) : source;
}

/** Hard-links every file of `from` into `to` (made fresh), keeping the folder structure. */
export async function linkTree(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true, mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.name === '.complete') continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(source, target);
    else if (entry.isFile()) await link(source, target);
  }
}
