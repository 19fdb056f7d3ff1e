import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { CronExpression, CronSyntaxError } from './cron-expression.ts';

/** A schedule is the deployer's text: any text parses or is refused with a CronSyntaxError. */
describe('CronExpression (fuzz)', () => {
  it('parses any text or refuses it, and a parsed one names only times it matches', async () => {
    const after = Date.UTC(2026, 11, 5, 10, 7, 30);
    await fuzz({
      seeds: [
        '*/5 * * * *',
        '0 9 * * MON-FRI',
        '*/2 * * * * *',
        '0 0 13 * FRI',
        '@daily',
        '1-59/3 0,12 1 JAN-MAR 7',
      ].map((s) => Buffer.from(s)),
      run(input) {
        const expression = CronExpression.parse(Buffer.from(input).toString('latin1'));
        const next = expression.nextAfter(after);
        assert.ok(next !== undefined && next > after && expression.matches(next));
      },
      rejects: (err) => err instanceof CronSyntaxError,
    });
  });
});
