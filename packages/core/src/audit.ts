/**
 * One change made through the API (a deploy, a delete, a key made or revoked, an instance
 * started…): who made it, what, when and from where. Kept per FAAS_RETENTION_DAYS.
 */
export interface AuditEntry {
  /** `aud_…`, sortable by time. */
  id: string;
  /** ISO 8601 UTC. */
  at: string;
  /** The project the change was made in. */
  project: string;
  /** The key that made it (a browser session acts as its key). */
  actor: { keyId: string; keyName: string; role: string };
  /** The route: `DELETE /api/v1/functions/:name`. */
  action: string;
  /** What it was made to: `functions/hello`, `keys/key_…`. */
  target?: string;
  /** The answer's HTTP status. */
  status: number;
  /** The client's address. */
  address: string;
}

export interface AuditFilter {
  project?: string;
  /** Exact route, e.g. `POST /api/v1/keys`. */
  action?: string;
  /** A key id. */
  actorKeyId?: string;
  /**
   * Only changes of these objects or of what is under them: `functions/hello` takes
   * `functions/hello/versions/2` too. (A key narrowed to functions sees only theirs.)
   */
  targets?: readonly string[];
  /** ISO timestamps, inclusive/exclusive. */
  since?: string;
  until?: string;
}
