import type { RateLimit } from './functions.ts';

/**
 * What a key may do. Each route of the API needs one (docs/security.md has the table); a role is
 * a set of them, and a key may be narrowed to fewer.
 */
export const SCOPES = [
  'functions:read',
  'functions:write',
  'functions:invoke',
  'invocations:read',
  'invocations:write',
  'sandboxes:read',
  'sandboxes:write',
  'keys:read',
  'keys:write',
  'projects:read',
  'projects:write',
  'settings:write',
  'queue:read',
  'cluster:read',
  'audit:read',
  'secrets:read',
  'secrets:write',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * `admin` is the platform's (every project, every scope); the others act in their key's project.
 * `user` is the role keys had before roles: a developer.
 */
export const API_KEY_ROLES = ['admin', 'owner', 'developer', 'invoker', 'viewer', 'user'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

const DEVELOPER: readonly Scope[] = [
  'functions:read',
  'functions:write',
  'functions:invoke',
  'invocations:read',
  'invocations:write',
  'sandboxes:read',
  'sandboxes:write',
  'projects:read',
  // A developer can deploy a function that reads any secret, so setting them adds no power.
  'secrets:read',
  'secrets:write',
];

export const ROLE_SCOPES: Readonly<Record<ApiKeyRole, readonly Scope[]>> = {
  admin: SCOPES,
  owner: [...DEVELOPER, 'keys:read', 'keys:write', 'settings:write', 'audit:read'],
  developer: DEVELOPER,
  user: DEVELOPER,
  invoker: ['functions:read', 'functions:invoke', 'invocations:read', 'projects:read'],
  viewer: ['functions:read', 'invocations:read', 'sandboxes:read', 'projects:read', 'secrets:read'],
};

/** A stored API key: only its sha256 is kept, never the key. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /**
   * The project the key acts in. A platform admin key (`role: 'admin'`) acts in every project;
   * its own project is where what it makes goes unless the request names another.
   */
  project: string;
  role: ApiKeyRole;
  /** Narrower than the role: only these of the role's scopes. Absent: all of the role's. */
  scopes?: Scope[];
  /** Only these functions (by name) of the project: others are not found. Absent: all. */
  functions?: string[];
  /** ISO time after which the key is refused (401). Absent: it does not expire. */
  expiresAt?: string;
  /** Invocations per second made with this key, on every gateway (docs/rate-limits.md). Absent: no limit. */
  rateLimit?: RateLimit;
  /** First characters of the key, to tell keys apart in listings. */
  prefix: string;
  hash: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

/**
 * What `PATCH /keys/{id}` changes on a key: absent fields stay, `null` removes the limit or the
 * expiry. Role, scopes, functions and project never change: a key is remade for those.
 */
export interface ApiKeyChanges {
  name?: string;
  rateLimit?: RateLimit | null;
  expiresAt?: string | null;
}

/** The scopes a key has: its role's, narrowed to its own list when it has one. */
export function keyScopes(key: Pick<ApiKeyRecord, 'role' | 'scopes'>): Scope[] {
  const granted = ROLE_SCOPES[key.role] ?? [];
  return key.scopes ? granted.filter((s) => key.scopes?.includes(s)) : [...granted];
}
