import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SERVER_NODE_FLAGS } from './node-flags.ts';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('SERVER_NODE_FLAGS', () => {
  it('are what npm start and the container image run the server with', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
    assert.equal(start, `node ${SERVER_NODE_FLAGS.join(' ')} packages/server/src/main.ts serve`);
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(read('deploy/server/Dockerfile'))?.[1];
    assert.deepEqual(JSON.parse(entrypoint ?? '[]'), [
      '/usr/local/bin/node',
      ...SERVER_NODE_FLAGS,
      'packages/server/src/main.ts',
    ]);
  });
});
