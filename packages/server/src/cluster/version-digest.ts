import { createHash } from 'node:crypto';
import type { FunctionVersion } from '@faas/core';

/** Digests already computed, by the version object: the gateway's copy of a version is reused call after call. */
const computed = new WeakMap<FunctionVersion, string>();

/**
 * The sha256 of a version's JSON: what a gateway names the version it calls by, and what a worker
 * keeps its copy under. Two versions with the same name and number but other content (deleted and
 * deployed again, or with other secret values revealed into its env) have different digests, so a
 * worker never runs a stale copy. The JSON is the one sent on the wire, so a worker recomputes
 * the same digest from the version it received.
 */
export function versionDigest(fn: FunctionVersion): string {
  let digest = computed.get(fn);
  if (digest === undefined) {
    digest = createHash('sha256').update(JSON.stringify(fn)).digest('base64url');
    computed.set(fn, digest);
  }
  return digest;
}
