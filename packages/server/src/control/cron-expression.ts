/**
 * Cron expressions for function schedules, in UTC: the five fields of crontab(5) (minute, hour,
 * day of month, month, day of week), or six with seconds first. Each field takes `*`, numbers,
 * ranges `a-b`, steps `*∕n` and `a-b/n`, and lists `a,b`; months and days of week also take their
 * English names (`JAN`, `MON`); Sunday is 0 or 7. As in Vixie cron, when both the day of month and
 * the day of week are restricted, a day matching either runs. `@hourly`, `@daily` (`@midnight`),
 * `@weekly`, `@monthly` and `@yearly` (`@annually`) stand for their usual expressions.
 */
export class CronExpression {
  readonly source: string;
  #seconds: Set<number>;
  #minutes: Set<number>;
  #hours: Set<number>;
  #daysOfMonth: Set<number>;
  #months: Set<number>;
  #daysOfWeek: Set<number>;
  /** Both day fields restricted: a day matching either runs. */
  #eitherDay: boolean;

  private constructor(source: string, fields: ParsedField[]) {
    this.source = source;
    const [seconds, minutes, hours, daysOfMonth, months, daysOfWeek] = fields as [
      ParsedField,
      ParsedField,
      ParsedField,
      ParsedField,
      ParsedField,
      ParsedField,
    ];
    this.#seconds = seconds.values;
    this.#minutes = minutes.values;
    this.#hours = hours.values;
    this.#daysOfMonth = daysOfMonth.values;
    this.#months = months.values;
    // 7 is Sunday too.
    this.#daysOfWeek = new Set([...daysOfWeek.values].map((d) => d % 7));
    this.#eitherDay = !daysOfMonth.any && !daysOfWeek.any;
  }

  /**
   * @throws CronSyntaxError saying which field is wrong and why, or that the expression names no
   * date that exists (`0 0 30 2 *`).
   */
  static parse(source: string): CronExpression {
    const text = source.trim();
    const expanded = MACROS[text.toLowerCase()] ?? text;
    if (expanded === '') throw new CronSyntaxError('A schedule cannot be empty');
    const parts = expanded.split(/\s+/);
    if (parts.length !== 5 && parts.length !== 6) {
      throw new CronSyntaxError(
        `"${source}" has ${parts.length} field(s): a schedule has 5 (minute hour day month weekday) or 6 (with seconds first)`,
      );
    }
    if (parts.length === 5) parts.unshift('0');
    const fields = FIELDS.map((spec, i) => parseField(parts[i] as string, spec));
    const expression = new CronExpression(source, fields);
    if (expression.nextAfter(Date.UTC(2000, 0, 1)) === undefined) {
      throw new CronSyntaxError(`"${source}" names no date that exists`);
    }
    return expression;
  }

  /**
   * The first time after `afterMs` (ms since epoch) that the expression names, in whole seconds,
   * or undefined when there is none within 8 years (only an expression of dates that do not exist).
   */
  nextAfter(afterMs: number): number | undefined {
    const d = new Date(Math.floor(afterMs / 1000) * 1000 + 1000);
    const limit = d.getUTCFullYear() + 8;
    while (d.getUTCFullYear() <= limit) {
      if (!this.#months.has(d.getUTCMonth() + 1)) {
        d.setUTCMonth(d.getUTCMonth() + 1, 1);
        d.setUTCHours(0, 0, 0);
        continue;
      }
      if (!this.#dayMatches(d)) {
        d.setUTCDate(d.getUTCDate() + 1);
        d.setUTCHours(0, 0, 0);
        continue;
      }
      if (!this.#hours.has(d.getUTCHours())) {
        d.setUTCHours(d.getUTCHours() + 1, 0, 0);
        continue;
      }
      if (!this.#minutes.has(d.getUTCMinutes())) {
        d.setUTCMinutes(d.getUTCMinutes() + 1, 0);
        continue;
      }
      if (!this.#seconds.has(d.getUTCSeconds())) {
        d.setUTCSeconds(d.getUTCSeconds() + 1);
        continue;
      }
      return d.getTime();
    }
    return undefined;
  }

  /** Whether the expression names this second (ms since epoch, any milliseconds ignored). */
  matches(ms: number): boolean {
    const d = new Date(ms);
    return (
      this.#seconds.has(d.getUTCSeconds()) &&
      this.#minutes.has(d.getUTCMinutes()) &&
      this.#hours.has(d.getUTCHours()) &&
      this.#months.has(d.getUTCMonth() + 1) &&
      this.#dayMatches(d)
    );
  }

  #dayMatches(d: Date): boolean {
    const dom = this.#daysOfMonth.has(d.getUTCDate());
    const dow = this.#daysOfWeek.has(d.getUTCDay());
    return this.#eitherDay ? dom || dow : dom && dow;
  }
}

export class CronSyntaxError extends Error {
  override name = 'CronSyntaxError';
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

interface ParsedField {
  values: Set<number>;
  /** Written as `*` (or `?`), unrestricted: matters for the two day fields. */
  any: boolean;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const FIELDS: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES },
  { name: 'day of week', min: 0, max: 7, names: DAY_NAMES },
];

function parseField(text: string, spec: FieldSpec): ParsedField {
  const values = new Set<number>();
  const any = text === '*' || text === '?';
  for (const item of text.split(',')) {
    const m = /^(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:\/([0-9]+))?$/.exec(item);
    if (!m) throw new CronSyntaxError(`the ${spec.name} field's "${item}" is not a value, range or step`);
    const [, range = '', stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isSafeInteger(step) || step < 1 || step > spec.max) {
      throw new CronSyntaxError(`the ${spec.name} field's step "${stepText}" must be 1 to ${spec.max}`);
    }
    let from: number;
    let to: number;
    if (range === '*' || range === '?') {
      from = spec.min;
      to = spec.max;
    } else {
      const [a = '', b] = range.split('-');
      from = fieldValue(a, spec);
      // `a/n` runs from a to the field's end, as in Vixie cron.
      to = b === undefined ? (stepText === undefined ? from : spec.max) : fieldValue(b, spec);
      if (to < from) throw new CronSyntaxError(`the ${spec.name} field's range "${range}" runs backwards`);
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, any };
}

function fieldValue(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return spec.min === 1 ? named + 1 : named;
  if (!/^[0-9]{1,2}$/.test(text)) {
    throw new CronSyntaxError(
      `the ${spec.name} field's "${text}" is not a number${spec.names ? ' or a name' : ''}`,
    );
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new CronSyntaxError(`the ${spec.name} field's ${value} is outside ${spec.min}-${spec.max}`);
  }
  return value;
}
