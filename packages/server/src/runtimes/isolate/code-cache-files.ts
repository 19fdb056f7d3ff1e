import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A cache file's name: the artifact's sha256, then the V8 that made it. */
const CACHE_FILE = /^([0-9a-f]{64})\.v8-[^/]+\.cache$/;
/** Artifacts asked about at once. */
const COLLECT_BATCH = 500;

/**
 * The file of an artifact's V8 code cache (CodeCacheFolder), named for the artifact and the V8
 * that made it: an upgraded V8 starts afresh. Undefined for a name that is not a sha256.
 */
export function codeCacheFile(artifactSha256: string): string | undefined {
  if (!/^[0-9a-f]{64}$/.test(artifactSha256)) return undefined;
  return `${artifactSha256}.v8-${process.versions.v8}.cache`;
}

/**
 * Removes from `dir` the caches of artifacts `named` does not name (a deleted function's, a
 * refused deploy's) written before `writtenBefore`, and the staged files of writes a killed host
 * left from then. A cache of an artifact a deploy has just loaded is younger than that, so it
 * stays until the version is recorded. Resolves to how many caches went.
 */
export async function collectCodeCaches(
  dir: string,
  named: (sha256s: readonly string[]) => Promise<Set<string>>,
  writtenBefore: number,
): Promise<number> {
  const old: Array<{ file: string; sha256: string }> = [];
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    const sha256 = CACHE_FILE.exec(file)?.[1];
    if (sha256 === undefined && !file.endsWith('.tmp')) continue;
    const at = (await stat(join(dir, file)).catch(() => undefined))?.mtimeMs;
    if (at === undefined || at >= writtenBefore) continue;
    if (sha256 === undefined) await removeFile(join(dir, file));
    else old.push({ file, sha256 });
  }
  let removed = 0;
  for (let i = 0; i < old.length; i += COLLECT_BATCH) {
    const batch = old.slice(i, i + COLLECT_BATCH);
    const kept = await named(batch.map((c) => c.sha256));
    for (const { file, sha256 } of batch) {
      if (!kept.has(sha256) && (await removeFile(join(dir, file)))) removed++;
    }
  }
  return removed;
}

/** Removes a file; not one that is gone already, or is not a file (a folder by such a name). */
function removeFile(path: string): Promise<boolean> {
  return rm(path).then(
    () => true,
    () => false,
  );
}
