import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'node-id';
const FORMAT = /^node_[a-z0-9]{20}$/;

/**
 * This node's name in the cluster, kept in its data dir: a worker that restarts on the same
 * disk comes back as itself, so what the cluster holds under its name (instances, orphaned
 * containers) is recognised as its own. Made on first start; a file that is not one we wrote
 * is refused rather than replaced, since replacing it would orphan everything under the old name.
 */
export function nodeIdentity(dataDir: string): string {
  const path = join(dataDir, FILE);
  let existing: string | undefined;
  try {
    existing = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== undefined) {
    if (!FORMAT.test(existing)) {
      throw new Error(
        `${path} does not hold a node id (node_ and 20 of a-z 0-9): remove it to make a new one`,
      );
    }
    return existing;
  }
  const id = `node_${[...randomBytes(20)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
  writeFileSync(path, `${id}\n`, { flag: 'wx', mode: 0o644 });
  return id;
}
