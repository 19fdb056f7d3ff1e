import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectCodeCaches } from '../isolate/code-cache-files.ts';
import { FetchBound } from './fetch-bound.ts';
import type { HostCommand, HostEvent, IsolateHostOptions } from './host-options.ts';

/** Where a thread finds a host; the path stays the same when the host is replaced. */
export interface HostEndpoint {
  index: number;
  socketPath: string;
}

export interface IsolateHostsOptions {
  count: number;
  blobsRoot: string;
  /**
   * Brings a blob a host asked for into `blobsRoot`; answers whether it exists. Unset: the hosts
   * read `blobsRoot` alone (it is the blob store itself).
   */
  fetchBlob?: (sha256: string) => Promise<boolean>;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  /** For all hosts together; each gets its share. */
  memoryBudgetMb: number;
  maxIsolates: number;
  /** Node's flags for the host processes (the server's own). */
  nodeFlags?: readonly string[];
  logger: Pick<Console, 'error' | 'warn'>;
}

/** The host's entry point (a composition root, beside main.ts). */
const HOST_ENTRY = new URL('../../isolate-host.ts', import.meta.url);
const START_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;
/** A host that dies within this long of its start counts towards a crash loop. */
const EARLY_EXIT_MS = 5_000;
const MAX_RESPAWN_DELAY_MS = 5_000;
const PING_EVERY_MS = 1_000;
/**
 * A started host whose main thread answers nothing for this long is hung (a function stuck in
 * an operation V8 cannot interrupt, on the thread that runs quick starts), and is killed: far
 * above any pause a busy host's thread takes, well below the functions' longest timeouts.
 */
const UNRESPONSIVE_MS = 10_000;

interface HostSlot {
  options: IsolateHostOptions;
  child: ChildProcess | undefined;
  startedAt: number;
  /** Early exits in a row: the respawn delay doubles with each. */
  earlyExits: number;
  ready: boolean;
  /** When the host last sent anything (it answers pings from its main thread). */
  heardAt: number;
}

/**
 * The isolate host processes (../../isolate-host.ts) and their upkeep: started before the server
 * listens, each at a fixed socket path in a private folder, and started again when one exits
 * (a thread killed it because a function would not stop, or it crashed). Threads connect to
 * the endpoints themselves and reconnect when a host comes back.
 */
export class IsolateHosts {
  readonly endpoints: readonly HostEndpoint[];
  #slots: HostSlot[];
  #runDir: string;
  #logger: Pick<Console, 'error' | 'warn'>;
  #fetchBlob: ((sha256: string) => Promise<boolean>) | undefined;
  #nodeFlags: readonly string[];
  #closing = false;
  #liveness: NodeJS.Timeout;
  #checkedAt = Date.now();

  private constructor(runDir: string, slots: HostSlot[], options: IsolateHostsOptions) {
    this.#runDir = runDir;
    this.#slots = slots;
    this.#logger = options.logger;
    this.#fetchBlob = options.fetchBlob;
    this.#nodeFlags = options.nodeFlags ?? [];
    this.endpoints = slots.map((s) => ({ index: s.options.index, socketPath: s.options.socketPath }));
    this.#liveness = setInterval(() => this.#checkLiveness(), PING_EVERY_MS);
    this.#liveness.unref();
  }

  static async start(options: IsolateHostsOptions): Promise<IsolateHosts> {
    // A private folder (0700): only this server's user can connect to the hosts.
    const runDir = await mkdtemp(join(tmpdir(), 'faas-hosts-'));
    const slots = Array.from(
      { length: options.count },
      (_, index): HostSlot => ({
        options: {
          index,
          socketPath: join(runDir, `${index}.sock`),
          blobsRoot: options.blobsRoot,
          fetchMissing: options.fetchBlob !== undefined,
          codeCacheDir: join(runDir, `code-cache-${index}`),
          idleTimeoutMs: options.idleTimeoutMs,
          maxFrameBytes: options.maxFrameBytes,
          memoryBudgetMb: hostShareMb(options.memoryBudgetMb, options.count),
          maxIsolates: Math.max(1, Math.ceil(options.maxIsolates / options.count)),
        },
        child: undefined,
        startedAt: 0,
        earlyExits: 0,
        ready: false,
        heardAt: 0,
      }),
    );
    const hosts = new IsolateHosts(runDir, slots, options);
    try {
      await Promise.all(slots.map((slot) => hosts.#spawn(slot)));
    } catch (err) {
      await hosts.close();
      throw err;
    }
    return hosts;
  }

  /** Each host's folder of V8 code caches (CodeCacheFolder), in endpoint order. */
  get codeCacheDirs(): string[] {
    return this.#slots.map((s) => s.options.codeCacheDir);
  }

  /** Process ids of the running hosts, in endpoint order (undefined while one restarts). */
  get pids(): Array<number | undefined> {
    return this.#slots.map((s) => s.child?.pid);
  }

  /**
   * Removes the hosts' V8 code caches of artifacts `named` does not name, written before
   * `writtenBefore` (see collectCodeCaches). Resolves to how many went.
   */
  async collectCodeCaches(
    named: (sha256s: readonly string[]) => Promise<Set<string>>,
    writtenBefore: number,
  ): Promise<number> {
    let removed = 0;
    for (const dir of this.codeCacheDirs) removed += await collectCodeCaches(dir, named, writtenBefore);
    return removed;
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#liveness);
    await Promise.all(this.#slots.map((slot) => this.#stop(slot)));
    await rm(this.#runDir, { recursive: true, force: true });
  }

  #spawn(slot: HostSlot): Promise<void> {
    const args = [...this.#nodeFlags, fileURLToPath(HOST_ENTRY), JSON.stringify(slot.options)];
    const child = spawn(process.execPath, args, {
      // Nothing of the server's environment (its keys) reaches the process tenant code runs in.
      env: {},
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.ready = false;
    const fetches = new FetchBound();
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`isolate host ${slot.options.index} did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      child.on('message', (event: HostEvent) => {
        slot.heardAt = Date.now();
        if (event.type === 'ready') {
          ready = true;
          slot.ready = true;
          clearTimeout(timer);
          resolve();
        } else if (event.type === 'fatal') {
          this.#logger.error(`isolate host ${slot.options.index}: ${event.message}; it exits`);
        } else if (event.type === 'fetch-blob') {
          void this.#answerFetch(child, fetches, event.id, event.sha256);
        }
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        if (!ready) reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (slot.child === child) slot.child = undefined;
        if (!ready) {
          reject(
            new Error(`isolate host ${slot.options.index} exited with ${signal ?? code} while starting`),
          );
          return;
        }
        if (this.#closing) return;
        this.#respawn(slot, signal ?? code);
      });
    });
  }

  /** Answers a host's ask for a blob; a host asking too much at once is refused, not queued. */
  async #answerFetch(child: ChildProcess, fetches: FetchBound, id: number, sha256: string): Promise<void> {
    const fetchBlob = this.#fetchBlob;
    let answer: HostCommand;
    try {
      const found = fetchBlob ? await fetches.run(() => fetchBlob(String(sha256))) : false;
      answer = { type: 'blob-fetched', id, found };
    } catch (err) {
      answer = { type: 'blob-fetched', id, found: false, error: (err as Error).message };
    }
    if (child.connected) child.send(answer);
  }

  #respawn(slot: HostSlot, how: string | number | null): void {
    slot.earlyExits = Date.now() - slot.startedAt < EARLY_EXIT_MS ? slot.earlyExits + 1 : 0;
    const delayMs = slot.earlyExits === 0 ? 0 : Math.min(MAX_RESPAWN_DELAY_MS, 50 * 2 ** slot.earlyExits);
    this.#logger.warn(`isolate host ${slot.options.index} exited (${how}); starting it again`);
    setTimeout(() => {
      if (this.#closing) return;
      this.#spawn(slot).catch((err: unknown) => {
        this.#logger.error(`isolate host ${slot.options.index} could not start again`, err);
        if (!this.#closing) this.#respawn(slot, 'failed start');
      });
    }, delayMs).unref();
  }

  /** Pings each started host; kills one that has not answered for UNRESPONSIVE_MS. */
  #checkLiveness(): void {
    const now = Date.now();
    // This thread was held up itself: the hosts' answers may be waiting unread.
    const late = now - this.#checkedAt > 3 * PING_EVERY_MS;
    this.#checkedAt = now;
    for (const slot of this.#slots) {
      const child = slot.child;
      if (!child || !slot.ready || this.#closing) continue;
      if (late) slot.heardAt = now;
      if (now - slot.heardAt > UNRESPONSIVE_MS) {
        this.#logger.warn(
          `isolate host ${slot.options.index} has not answered for ${now - slot.heardAt} ms; killing it`,
        );
        child.kill('SIGKILL');
        continue;
      }
      if (child.connected) child.send({ type: 'ping' } satisfies HostCommand);
    }
  }

  async #stop(slot: HostSlot): Promise<void> {
    const child = slot.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const command: HostCommand = { type: 'close' };
    if (child.connected) child.send(command);
    else child.kill('SIGKILL');
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** One host's part of the isolates' memory budget: the most one js/ts function may ask for. */
export function hostShareMb(budgetMb: number, hosts: number): number {
  return Math.max(64, Math.floor(budgetMb / hosts));
}
