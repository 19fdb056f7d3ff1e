import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * Trees made once and kept by the hash of what made them (installed dependencies, go builds):
 * `<root>/<name>/`, whole once `<root>/<name>.complete` exists, made in
 * `<root>/.<name>.<random>.partial`. The marker's time is the tree's last use. Containers get
 * hard links to a tree's files, never the tree itself, so removing one breaks no container.
 */

/** Whether the tree is whole; renews its last use when it is. */
export async function useKeptTree(tree: string): Promise<boolean> {
  const now = new Date();
  return utimes(`${tree}.complete`, now, now).then(
    () => true,
    () => false,
  );
}

/**
 * Removes the trees under `root` not used since `unusedBefore`, except those `busy` names (being
 * made or used now), and what a crash left half made. Resolves to how many trees went.
 */
export async function collectKeptTrees(
  root: string,
  unusedBefore: number,
  busy: (name: string) => boolean,
): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(root).catch(() => [] as string[])) {
    const name = entry.endsWith('.complete') ? entry.slice(0, -'.complete'.length) : undefined;
    if (name === undefined ? !entry.endsWith('.partial') : busy(name)) continue;
    const at = (await stat(join(root, entry)).catch(() => undefined))?.mtimeMs;
    if (at === undefined || at >= unusedBefore) continue;
    // The marker first: a use from now on makes the tree again rather than link one going away.
    await rm(join(root, entry), { recursive: true, force: true });
    if (name !== undefined) {
      await rm(join(root, name), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
