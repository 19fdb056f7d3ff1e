import type { FunctionRecord, FunctionVersion } from './functions.ts';
import type { Invocation } from './invocations.ts';
import { DEFAULT_PROJECT } from './projects.ts';
import type { StoredLogLine } from './store.ts';

/**
 * Function names are per project: two projects may each have `hello`. Below the API everything
 * (store keys, warm pools, queue jobs, concurrency slots, caches, metrics) knows a function by one
 * platform-wide name, its *stored name*: the name itself in the default project (so what existed
 * before keeps its name), `{project}.{name}` in any other. The dot is in neither a project id nor
 * a function name, so stored names never collide, and a lookup that forgets to qualify a name finds
 * a default-project function, which the project check then refuses (404): it fails closed. The
 * API takes and answers the name alone (`shown*`).
 */
const SEPARATOR = '.';

/**
 * The platform-wide name of function `name` of `project`. A name that already holds a project
 * (`team-a.hello`, as `/fn/{project}.{name}` addresses a function) is taken as it is: it names
 * that project's function, which a caller of another project is then refused (404) like any of
 * that project's objects.
 */
export function storedName(project: string | undefined, name: string): string {
  // The default project's functions are stored by their name alone.
  if (name.startsWith(DEFAULT_PREFIX)) return name.slice(DEFAULT_PREFIX.length);
  if (project === undefined || project === DEFAULT_PROJECT || name.includes(SEPARATOR)) return name;
  return `${project}${SEPARATOR}${name}`;
}

const DEFAULT_PREFIX = `${DEFAULT_PROJECT}${SEPARATOR}`;

/** The name a project knows a function by. */
export function shownName(stored: string): string {
  const dot = stored.indexOf(SEPARATOR);
  return dot < 0 ? stored : stored.slice(dot + 1);
}

/** `{project}.{name}` split; undefined for a name without a project (one of the default project). */
export function splitStoredName(stored: string): { project: string; name: string } | undefined {
  const dot = stored.indexOf(SEPARATOR);
  return dot < 0 ? undefined : { project: stored.slice(0, dot), name: stored.slice(dot + 1) };
}

export function shownVersion(version: FunctionVersion): FunctionVersion {
  return version.name.includes(SEPARATOR) ? { ...version, name: shownName(version.name) } : version;
}

export function shownRecord(record: FunctionRecord): FunctionRecord {
  if (!record.name.includes(SEPARATOR)) return record;
  return { ...record, name: shownName(record.name), latest: shownVersion(record.latest) };
}

export function shownInvocation<T extends Pick<Invocation, 'functionName'>>(invocation: T): T {
  const { functionName } = invocation;
  return functionName.includes(SEPARATOR)
    ? { ...invocation, functionName: shownName(functionName) }
    : invocation;
}

export function shownLogLine(line: StoredLogLine): StoredLogLine {
  return line.functionName.includes(SEPARATOR)
    ? { ...line, functionName: shownName(line.functionName) }
    : line;
}
