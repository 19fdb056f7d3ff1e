import { ErrorCode, FaasError } from '@faas/core';

/**
 * Which dependencies a function may declare. By default only registry packages: a spec that
 * names a file, a folder, a git repository or a URL would make the install read or fetch
 * something the operator did not choose (`file:../../etc`, `http://127.0.0.1:…`).
 */
export interface DependencyPolicy {
  /** FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES: let any spec through (installs still run sandboxed). */
  allowNonRegistry: boolean;
  /** The npm registry lock files may resolve from (FAAS_NPM_REGISTRY). */
  npmRegistry: string;
}

/** What the setting is called, for messages. */
const ALLOW_SETTING = 'FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES=true';

/** npm package names, scoped or not (old packages have capitals). */
const NPM_NAME = /^(@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*$/i;
/** A semver range, an exact version or a dist-tag: nothing with `:`, `/`, `#` or `@`. */
const NPM_RANGE = /^[\w.*+^~<>=| -]*$/;
/** `npm:name@range`: another registry package under this name. */
const NPM_ALIAS = /^npm:((?:@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*)(?:@([\w.*+^~<>=| -]*))?$/i;
/** An `overrides` value may point at a dependency's own spec: `$name`. */
const NPM_REFERENCE = /^\$(@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*$/i;

/** Longer names, specs and requirement lines are refused before any pattern looks at them. */
const MAX_SPEC_CHARS = 1000;

const DEPENDENCY_FIELDS = [
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'devDependencies',
] as const;

export interface NpmPlan {
  /** Whether a lock file came with it (`npm ci`) or not (`npm install`). */
  locked: boolean;
}

/**
 * Checks a node function's package.json (and package-lock.json) before anything is installed.
 * @returns undefined when there is nothing to install.
 * @throws FaasError VALIDATION naming the dependency that is not a registry package.
 */
export function checkNpmManifest(
  manifest: string,
  lock: string | undefined,
  policy: DependencyPolicy,
): NpmPlan | undefined {
  const pkg = parseObject(manifest, 'package.json');
  let any = false;
  for (const field of DEPENDENCY_FIELDS) {
    const deps = pkg[field];
    if (deps === undefined) continue;
    const entries = asRecord(deps, `package.json ${field}`);
    for (const [name, spec] of Object.entries(entries)) {
      any = true;
      const where = `package.json ${field}.${short(name)}`;
      if (name.length > 214 || !NPM_NAME.test(name)) refuse(where, 'is not an npm package name');
      if (typeof spec !== 'string') refuse(where, 'must be a version string');
      if (!policy.allowNonRegistry && !isRegistrySpec(spec)) {
        refuse(where, `"${short(spec)}" is not a version of a registry package${hint()}`);
      }
    }
  }
  if (!policy.allowNonRegistry) {
    if (pkg.workspaces !== undefined)
      refuse('package.json workspaces', `workspaces are local folders${hint()}`);
    if (pkg.overrides !== undefined) checkOverrides(pkg.overrides, 'package.json overrides');
  }
  if (!any) return undefined;
  if (lock !== undefined) {
    const parsed = parseObject(lock, 'package-lock.json');
    if (!policy.allowNonRegistry) checkLock(parsed, policy.npmRegistry);
  }
  return { locked: lock !== undefined };
}

/** npm takes a spec that ends like a tarball as a file, whatever else it looks like. */
const NPM_TARBALL = /\.(tgz|tar|tar\.gz)$/i;

function isRegistrySpec(spec: string): boolean {
  return (
    spec.length <= MAX_SPEC_CHARS && !NPM_TARBALL.test(spec) && (NPM_RANGE.test(spec) || NPM_ALIAS.test(spec))
  );
}

/** Deeper nesting of overrides or of a version 1 lock is refused rather than walked. */
const MAX_NESTING = 64;

function checkOverrides(value: unknown, where: string, depth = 0): void {
  if (depth > MAX_NESTING) refuse('package.json overrides', `nest deeper than ${MAX_NESTING} levels`);
  if (typeof value === 'string') {
    if (!isRegistrySpec(value) && !NPM_REFERENCE.test(value)) {
      refuse(where, `"${short(value)}" is not a version of a registry package${hint()}`);
    }
    return;
  }
  for (const [key, inner] of Object.entries(asRecord(value, where))) {
    checkOverrides(inner, `${where}.${short(key)}`, depth + 1);
  }
}

/** Every package a lock file installs must come from the registry, not a link, path or URL. */
function checkLock(lock: Record<string, unknown>, registry: string): void {
  const registries = [registry, 'https://registry.npmjs.org/'].map((r) => (r.endsWith('/') ? r : `${r}/`));
  const fromRegistry = (resolved: unknown) =>
    resolved === undefined ||
    (typeof resolved === 'string' && registries.some((r) => resolved.startsWith(r)));
  if (lock.packages !== undefined) {
    for (const [path, entry] of Object.entries(asRecord(lock.packages, 'package-lock.json packages'))) {
      if (path === '') continue;
      const where = `package-lock.json packages["${short(path)}"]`;
      const info = asRecord(entry, where);
      if (!path.startsWith('node_modules/') || path.includes('/../') || info.link === true) {
        refuse(where, `a local package${hint()}`);
      }
      if (!fromRegistry(info.resolved)) {
        refuse(where, `resolves from "${short(String(info.resolved))}", not the registry${hint()}`);
      }
    }
  }
  if (lock.dependencies !== undefined)
    checkLockV1(lock.dependencies, 'package-lock.json dependencies', fromRegistry);
}

function checkLockV1(
  deps: unknown,
  where: string,
  fromRegistry: (resolved: unknown) => boolean,
  depth = 0,
): void {
  if (depth > MAX_NESTING) refuse('package-lock.json dependencies', `nest deeper than ${MAX_NESTING} levels`);
  for (const [name, entry] of Object.entries(asRecord(deps, where))) {
    const at = `${where}.${short(name)}`;
    const info = asRecord(entry, at);
    if (typeof info.version === 'string' && !isRegistrySpec(info.version) && !NPM_ALIAS.test(info.version)) {
      refuse(at, `"${short(info.version)}" is not a registry version${hint()}`);
    }
    if (!fromRegistry(info.resolved)) {
      refuse(at, `resolves from "${short(String(info.resolved))}", not the registry${hint()}`);
    }
    if (info.dependencies !== undefined)
      checkLockV1(info.dependencies, `${at}.dependencies`, fromRegistry, depth + 1);
  }
}

/** A PEP 508 name. */
const PY_NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const PY_VERSION = '(?:===|==|~=|!=|<=|>=|<|>)\\s*[A-Za-z0-9.*+!_-]+';
const PY_VERSIONS = `${PY_VERSION}(?:\\s*,\\s*${PY_VERSION})*`;
/** `name[extra,…] (specifiers) ; markers`, without a URL (`@`) or a path. */
const PY_REQUIREMENT = new RegExp(
  `^${PY_NAME}\\s*(?:\\[\\s*${PY_NAME}(?:\\s*,\\s*${PY_NAME})*\\s*\\])?\\s*(?:${PY_VERSIONS}|\\(\\s*${PY_VERSIONS}\\s*\\))?\\s*(?:;[^@]*)?$`,
);
/** pip takes a requirement that looks like a file name as a path. */
const PY_ARCHIVE = /\.(whl|zip|tar|tgz|tar\.gz|tar\.bz2|tar\.xz|egg)\b/i;
/** The one per-requirement option allowed: hash checking pins what the index serves. */
const PY_HASH = /\s+--hash[=\s]\s*sha(256|384|512):[0-9a-f]+/gi;

/**
 * Checks a python function's requirements.txt before anything is installed.
 * @returns the requirement lines, or undefined when there are none (nothing to install).
 * @throws FaasError VALIDATION naming the line that is not a registry requirement.
 */
export function checkRequirements(text: string, policy: DependencyPolicy): string[] | undefined {
  const requirements: string[] = [];
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line.length === 0) return;
    requirements.push(line);
    if (policy.allowNonRegistry) return;
    const where = `requirements.txt line ${index + 1}`;
    const shown = short(line);
    if (line.length > MAX_SPEC_CHARS) refuse(where, `is longer than ${MAX_SPEC_CHARS} characters`);
    if (line.startsWith('-')) refuse(where, `"${shown}": pip options are not allowed${hint()}`);
    if (line.includes('$')) refuse(where, `"${shown}": environment variables are not allowed${hint()}`);
    const requirement = line.replace(PY_HASH, '');
    if (/\s-/.test(requirement)) refuse(where, `"${shown}": pip options are not allowed${hint()}`);
    if (PY_ARCHIVE.test(requirement) || !PY_REQUIREMENT.test(requirement)) {
      refuse(where, `"${shown}" is not a package from the index (a URL, a path or a file)${hint()}`);
    }
  });
  return requirements.length > 0 ? requirements : undefined;
}

/** Untrusted text as a message shows it: at most 200 characters. */
function short(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function hint(): string {
  return `; only registry packages are allowed unless the operator sets ${ALLOW_SETTING}`;
}

function parseObject(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    refuse(file, `is not valid JSON: ${(err as Error).message}`);
  }
  return asRecord(value, file);
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse(where, 'must be an object');
  return value as Record<string, unknown>;
}

function refuse(field: string, message: string): never {
  throw new FaasError(ErrorCode.VALIDATION, `Invalid dependencies: ${field} ${message}`, {
    details: [{ field, message }],
  });
}
