/** Which limit a rate limit's bucket enforces: the caller's key, its project, the function, a client address. */
export const RATE_LIMIT_SCOPES = ['key', 'project', 'function', 'ip'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

/** How a rate limit's refusal message begins: the scope in it is what metrics label the refusal with. */
export function rateLimitedPrefix(scope: RateLimitScope): string {
  return `Rate limit reached (${scope})`;
}

/** Which limit refused a recorded invocation, from its error message; undefined: none said. */
export function rateLimitScopeOf(message: string): RateLimitScope | undefined {
  const scope = /^Rate limit reached \((\w+)\)/.exec(message)?.[1];
  return RATE_LIMIT_SCOPES.find((s) => s === scope);
}
