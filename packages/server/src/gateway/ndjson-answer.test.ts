import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ndjsonAnswer } from './ndjson-answer.ts';
import { MAX_UNSENT_BYTES } from './routes/instance-stream.ts';

const line = { type: 'stdout', data: 'x'.repeat(64 * 1024) };

describe('ndjsonAnswer', () => {
  it('asks the writer to wait once MAX_UNSENT_BYTES are unread, and lets it go on when read', async () => {
    const answer = ndjsonAnswer(() => assert.fail('a writer that waits is not dropped'));
    let waiting: Promise<void> | undefined;
    let written = 0;
    while (!waiting) {
      answer.write(line);
      waiting = answer.behind();
      written += 1;
    }
    assert.ok(written * line.data.length >= MAX_UNSENT_BYTES - line.data.length, `after ${written}`);
    let resumed = false;
    void waiting.then(() => {
      resumed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resumed, false);
    answer.body.resume();
    await waiting;
  });

  it('drops a client whose writer does not wait: the run is stopped, nothing more is kept', () => {
    let slow = 0;
    const answer = ndjsonAnswer(() => {
      slow += 1;
    });
    for (let i = 0; i < (8 * MAX_UNSENT_BYTES) / line.data.length; i += 1) answer.write(line);
    assert.equal(slow, 1);
    assert.equal(answer.body.destroyed, true);
    assert.equal(answer.behind(), undefined, 'no wait on a client that is gone');
  });
});
