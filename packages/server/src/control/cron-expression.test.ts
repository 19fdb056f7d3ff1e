import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CronExpression, CronSyntaxError } from './cron-expression.ts';

const at = (iso: string) => Date.parse(iso);
const next = (expression: string, afterIso: string) => {
  const ms = CronExpression.parse(expression).nextAfter(at(afterIso));
  return ms === undefined ? undefined : new Date(ms).toISOString();
};

describe('CronExpression', () => {
  it('finds the next time of five-field expressions, in UTC', () => {
    assert.equal(next('*/15 * * * *', '2026-12-05T10:07:30Z'), '2026-12-05T10:15:00.000Z');
    assert.equal(next('*/15 * * * *', '2026-12-05T10:15:00Z'), '2026-12-05T10:30:00.000Z');
    assert.equal(next('0 9 * * MON-FRI', '2026-12-04T09:00:00Z'), '2026-12-07T09:00:00.000Z');
    assert.equal(next('30 23 31 12 *', '2026-06-01T00:00:00Z'), '2026-12-31T23:30:00.000Z');
    assert.equal(next('0 0 1 1 *', '2026-12-31T23:59:59.999Z'), '2027-01-01T00:00:00.000Z');
    assert.equal(next('0 0 29 feb *', '2026-03-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
    assert.equal(next('5,10-12 4 * * *', '2026-12-05T04:10:00Z'), '2026-12-05T04:11:00.000Z');
    assert.equal(next('10/20 * * * *', '2026-12-05T04:31:00Z'), '2026-12-05T04:50:00.000Z');
  });

  it('takes seconds as a sixth, first field', () => {
    assert.equal(next('*/2 * * * * *', '2026-12-05T10:00:00.500Z'), '2026-12-05T10:00:02.000Z');
    assert.equal(next('30 * * * * *', '2026-12-05T10:00:30Z'), '2026-12-05T10:01:30.000Z');
  });

  it('runs a day matching either day field when both are restricted, as Vixie cron does', () => {
    // 2026-12-05 is a Saturday: the next Friday (the 11th) comes before the 13th.
    assert.equal(next('0 0 13 * FRI', '2026-12-05T00:00:00Z'), '2026-12-11T00:00:00.000Z');
    assert.equal(next('0 0 13 * FRI', '2026-12-11T00:00:00Z'), '2026-12-13T00:00:00.000Z');
    // Only one restricted: that one decides.
    assert.equal(next('0 0 * * 0', '2026-12-05T00:00:00Z'), '2026-12-06T00:00:00.000Z');
    assert.equal(next('0 0 * * 7', '2026-12-05T00:00:00Z'), '2026-12-06T00:00:00.000Z');
  });

  it('knows the macros', () => {
    assert.equal(next('@daily', '2026-12-05T23:59:59Z'), '2026-12-06T00:00:00.000Z');
    assert.equal(next('@hourly', '2026-12-05T10:00:00Z'), '2026-12-05T11:00:00.000Z');
    assert.equal(next('@weekly', '2026-12-05T10:00:00Z'), '2026-12-06T00:00:00.000Z');
    assert.equal(next('@YEARLY', '2026-12-05T10:00:00Z'), '2027-01-01T00:00:00.000Z');
  });

  it('names the field at fault in what it refuses', () => {
    const refused: Array<[string, RegExp]> = [
      ['  ', /cannot be empty/],
      ['* * * *', /4 field/],
      ['* * * * * * *', /7 field/],
      ['60 * * * *', /minute field's 60 is outside 0-59/],
      ['* 24 * * *', /hour field's 24/],
      ['* * 0 * *', /day of month field's 0/],
      ['* * * 13 *', /month field's 13/],
      ['* * * * 8', /day of week field's 8/],
      ['5-1 * * * *', /runs backwards/],
      ['*/0 * * * *', /step "0"/],
      ['* * * FOO *', /month field's "FOO" is not a number or a name/],
      ['1.5 * * * *', /is not a value, range or step/],
      ['0 0 30 2 *', /names no date that exists/],
      ['0 0 31 4,6,9,11 *', /names no date that exists/],
    ];
    for (const [text, message] of refused) {
      assert.throws(
        () => CronExpression.parse(text),
        (err: unknown) => {
          assert.ok(err instanceof CronSyntaxError, text);
          assert.match(err.message, message, text);
          return true;
        },
      );
    }
  });

  it('gives the first matching minute after any time, checked minute by minute', () => {
    const expressions = ['*/7 * * * *', '0 */5 * * *', '15 3 * * 1-3', '0 12 1,15 * *', '59 23 * * SAT'];
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const text of expressions) {
      const expression = CronExpression.parse(text);
      for (let i = 0; i < 20; i++) {
        const after = Date.UTC(2026, 0, 1) + Math.floor(random() * 365 * 86_400_000);
        const found = expression.nextAfter(after);
        assert.ok(found !== undefined && found > after && found % 60_000 === 0, text);
        assert.ok(expression.matches(found), `${text} does not match ${new Date(found).toISOString()}`);
        for (let m = Math.floor(after / 60_000 + 1) * 60_000; m < found; m += 60_000) {
          assert.ok(!expression.matches(m), `${text} skipped ${new Date(m).toISOString()}`);
        }
      }
    }
  });
});
