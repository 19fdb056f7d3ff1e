import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  buildRuntimeImages,
  pruneRuntimeImages,
  runtimeImageTags,
} from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import type { ImageBuildProgress } from '../../packages/server/src/runtimes/container/images/image-progress.ts';
import { DEFAULT_IMAGES_DIR } from '../../packages/server/src/runtimes/container/images/runtime-images.ts';
import { docker, engineSkipReason, IMAGE_CACHE_DIR } from './support.ts';

const skip = await engineSkipReason();

describe('runtime image tags', () => {
  it('hash their inputs: a changed agent file makes a new tag, the rest stays', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'faas-images-'));
    try {
      await cp(DEFAULT_IMAGES_DIR, copy, { recursive: true });
      const before = await runtimeImageTags(copy);
      assert.deepEqual(await runtimeImageTags(copy), before, 'stable for the same inputs');
      await writeFile(join(copy, 'agent', 'python', 'agent.py'), '# changed\n', { flag: 'a' });
      const after = await runtimeImageTags(copy);
      assert.notEqual(after.python, before.python);
      assert.equal(after.node, before.node);
      assert.equal(after.base, before.base);
      assert.match(after.python, /^faas\/python:[0-9a-f]{16}$/);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

describe('buildRuntimeImages on the real engine', { skip }, () => {
  it('builds what is missing, then skips everything on a second run', { timeout: 900_000 }, async () => {
    const tags = await buildRuntimeImages({ docker, cacheDir: IMAGE_CACHE_DIR });
    const events: ImageBuildProgress[] = [];
    const again = await buildRuntimeImages({
      docker,
      cacheDir: IMAGE_CACHE_DIR,
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(again, tags);
    assert.deepEqual(
      events.map((e) => [e.image, e.phase]),
      [
        ['base', 'cached'],
        ['node', 'cached'],
        ['python', 'cached'],
      ],
    );
    for (const tag of [tags.base, tags.node, tags.python]) await docker.getImage(tag).inspect();
  });

  it('prunes runtime images of earlier versions and keeps the current ones', {
    timeout: 900_000,
  }, async () => {
    const tags = await buildRuntimeImages({ docker, cacheDir: IMAGE_CACHE_DIR });
    const stale = 'faas/python:0000000000000000';
    await docker.getImage(tags.python).tag({ repo: 'faas/python', tag: '0000000000000000' });
    const removed = await pruneRuntimeImages(docker);
    assert.ok(removed.includes(stale), `removed ${removed.join(', ')}`);
    for (const tag of [tags.base, tags.node, tags.python]) await docker.getImage(tag).inspect();
  });
});
