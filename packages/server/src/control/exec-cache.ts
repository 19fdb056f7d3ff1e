import { createHash } from 'node:crypto';
import type { Isolation, MetadataStore } from '@faas/core';
import type { SandboxResult } from '../runtimes/container/index.ts';

/**
 * What identifies a run for the cached mode: every input that can change its result, with the
 * defaults filled in (an omitted limit and the same limit given are one key).
 */
export interface ExecCacheInputs {
  /** Whose run: one project's results never answer another's. */
  project: string;
  /** The image's content id (`sha256:…`), not its tag: a rebuilt tag is a different key. */
  imageId: string;
  /** A string (run with `/bin/sh -c`) and an argv are different commands. */
  command: string | string[];
  env: Record<string, string>;
  files: Record<string, string>;
  stdin: string;
  /** A command can read its limits (cgroup files, `nproc`) and behave by them; an OOM kill is a result. */
  memoryMb: number;
  cpus: number;
  /** A command that answers under a long timeout may time out under a short one. */
  timeoutMs: number;
  /** With network, a command's output can depend on what it fetched. */
  network: boolean;
  /** runc and gVisor differ in what a command sees (kernel version, /proc, syscalls). */
  isolation: Isolation;
  /** Mounted caches can change what a command does (a warm cache installs offline). */
  dependencyCaches: readonly string[];
}

export interface ExecCacheOptions {
  store: MetadataStore;
  /** Results kept in memory in front of the store. @default 256 */
  maxEntries?: number;
  /**
   * Output characters kept in memory, all entries together: a result holds up to 10 MiB of
   * output, so a count alone would let 256 big ones take gigabytes. @default 33554432
   */
  maxChars?: number;
}

/**
 * Where results are stored: one setting per slot of the key space, so a tenant varying its input
 * (stdin, a counter in env) replaces results instead of adding rows without end. A slot holds
 * its key beside the result: another key of the slot is a miss, never its neighbour's result.
 */
const SLOT_PREFIX = 'exec-cache-slot:';
/** At most this many results stored, all projects together. */
export const EXEC_CACHE_SLOTS = 1024;
/** A result whose stored form is longer is answered but not kept: at most ~1 GiB in all. */
export const MAX_STORED_RESULT_CHARS = 1024 * 1024;

function slotOf(key: string): string {
  return `${SLOT_PREFIX}${(Number.parseInt(key.slice(0, 8), 16) || 0) % EXEC_CACHE_SLOTS}`;
}

/** The cache key: sha256 of the inputs in a canonical form (object keys sorted). */
export function execCacheKey(inputs: ExecCacheInputs): string {
  const canonical = JSON.stringify([
    // The key's layout: keys of an earlier layout (without limits or project) never match.
    'exec-v2',
    inputs.project,
    inputs.imageId,
    inputs.command,
    sortedEntries(inputs.env),
    sortedEntries(inputs.files),
    inputs.stdin,
    inputs.memoryMb,
    inputs.cpus,
    inputs.timeoutMs,
    inputs.network,
    inputs.isolation,
    [...new Set(inputs.dependencyCaches)].sort(),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortedEntries(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Results of finished runs by input hash. Durable in the metadata store's settings (a bounded set
 * of slots, JSON) so no migration is needed and hits survive a restart; a small LRU in front
 * answers repeated hits without a store read.
 */
export class ExecCache {
  #store: MetadataStore;
  #maxEntries: number;
  #maxChars: number;
  #recent = new Map<string, SandboxResult>();
  #chars = 0;

  constructor(options: ExecCacheOptions) {
    this.#store = options.store;
    this.#maxEntries = options.maxEntries ?? 256;
    this.#maxChars = options.maxChars ?? 32 * 1024 * 1024;
  }

  async get(key: string): Promise<SandboxResult | undefined> {
    const recent = this.#recent.get(key);
    if (recent) {
      // Re-insert: a Map iterates in insertion order, so the oldest key is the least recent.
      this.#recent.delete(key);
      this.#recent.set(key, recent);
      return recent;
    }
    const stored = await this.#store.getSetting(slotOf(key));
    if (stored === undefined) return undefined;
    let slot: StoredSlot;
    try {
      slot = JSON.parse(stored) as StoredSlot;
    } catch {
      return undefined;
    }
    if (slot.key !== key) return undefined;
    this.#remember(key, slot.result);
    return slot.result;
  }

  /** Keeps the result, unless its stored form is over MAX_STORED_RESULT_CHARS. */
  async set(key: string, result: SandboxResult): Promise<void> {
    const stored = JSON.stringify({ key, result } satisfies StoredSlot);
    if (stored.length > MAX_STORED_RESULT_CHARS) return;
    await this.#store.setSetting(slotOf(key), stored);
    this.#remember(key, result);
  }

  #remember(key: string, result: SandboxResult): void {
    this.#forget(key);
    // Bigger than the whole budget: answered from the store each time instead.
    if (chars(result) > this.#maxChars) return;
    this.#recent.set(key, result);
    this.#chars += chars(result);
    while (this.#recent.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#recent.keys().next().value;
      if (oldest === undefined) break;
      this.#forget(oldest);
    }
  }

  #forget(key: string): void {
    const result = this.#recent.get(key);
    if (!result) return;
    this.#recent.delete(key);
    this.#chars -= chars(result);
  }
}

interface StoredSlot {
  key: string;
  result: SandboxResult;
}

function chars(result: SandboxResult): number {
  return result.stdout.length + result.stderr.length;
}
