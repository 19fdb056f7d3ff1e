/**
 * A sandbox session: set up a workspace in an instance once, snapshot it, fork it twice and try
 * two variants side by side, each from the same starting state.
 *
 *   FAAS_URL=… FAAS_API_KEY=… node examples/sandbox-session/session.ts
 */
import { FaaSClient } from '@faas/sdk';

export interface SessionResult {
  setup: string;
  variants: Record<string, string>;
}

export async function runSession(client: FaaSClient): Promise<SessionResult> {
  const { sandboxes } = client;
  const instance = await sandboxes.createInstance({ idle_ttl_ms: 120_000 });
  const made: string[] = [instance.id];
  let snapshotId: string | undefined;
  try {
    // The expensive part, done once: here a data file and a script.
    await sandboxes.writeFile(instance.id, 'data.txt', 'pear\napple\nfig\napple\n');
    await sandboxes.writeFile(instance.id, 'count.sh', 'sort data.txt | uniq -c | sort -rn | head -n "$1"\n');
    const setup = await sandboxes.exec(instance.id, 'wc -l < data.txt');

    const snapshot = await sandboxes.createSnapshot(instance.id, 'after-setup');
    snapshotId = snapshot.id;
    const [a, b] = await sandboxes.forkSnapshot(snapshot.id, 2);
    if (!a || !b) throw new Error('the fork made fewer than two instances');
    made.push(a.id, b.id);

    // Each fork changes its copy; neither sees the other's change.
    await sandboxes.exec(a.id, 'echo kiwi >> data.txt');
    const [top1, top3] = await Promise.all([
      sandboxes.exec(a.id, 'sh count.sh 1; wc -l < data.txt'),
      sandboxes.exec(b.id, 'sh count.sh 3; wc -l < data.txt'),
    ]);
    return { setup: setup.stdout.trim(), variants: { top1: top1.stdout, top3: top3.stdout } };
  } finally {
    if (snapshotId) await sandboxes.deleteSnapshot(snapshotId).catch(() => {});
    for (const id of made) await sandboxes.deleteInstance(id).catch(() => {});
  }
}

if (import.meta.main) console.log(JSON.stringify(await runSession(new FaaSClient()), null, 2));
