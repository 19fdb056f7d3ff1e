import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Config } from '@faas/core';
import type { ChangeFeed } from '../../control/change-feed.ts';
import type { InvocationRecorder } from '../../control/invocation-recorder.ts';
import type { MemoryRateBuffers } from '../../control/rate-limits/rate-buckets.ts';
import { SlotTable } from '../../control/slot-table.ts';
import type { MetricsJson } from '../../observability/metrics-scrape.ts';
import type { ThreadPlatformInput } from '../../thread-platform.ts';
import { createGatewayServer } from '../http-server.ts';
import type { GatewayThreadData, GatewayThreadEvent } from './thread-data.ts';

export interface GatewayThreadsOptions {
  /** Threads besides the main one. */
  count: number;
  config: Readonly<Config>;
  /** The port the main thread listens on, with reusePort. */
  port: number;
  /** The main thread's HTTP server: what the other threads pass on is emitted on it. */
  main: Server;
  recorder: InvocationRecorder;
  changes: ChangeFeed;
  slots: SlotTable;
  /** The rate limits' buckets, in the memory every thread shares. */
  rateBuffers: MemoryRateBuffers;
  isolateEndpoints: ThreadPlatformInput['isolateEndpoints'];
  remoteContainerKinds: ThreadPlatformInput['remoteContainerKinds'];
  logger: Pick<Console, 'error'>;
}

interface Running {
  worker: Worker;
  stats: () => Promise<GatewayThreadStats>;
  metrics: () => Promise<MetricsJson>;
  detach: () => void;
}

export interface GatewayThreadStats {
  /** Sync invokes the thread served itself. */
  served: number;
  /** Requests it passed on to the main thread. */
  passed: number;
}

const RESPAWN_DELAY_MS = 1_000;
const CLOSE_TIMEOUT_MS = 15_000;
/** A scrape waits this long for a thread's metrics: a stuck thread must not stall /metrics. */
const METRICS_ANSWER_MS = 2_000;

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * The gateway threads beside the main one: each listens on the same port (the kernel spreads
 * connections over them) and serves sync invokes of isolate functions with its own isolates;
 * the rest reaches the main thread through an internal Unix socket. One that dies is started
 * again.
 */
export class GatewayThreads {
  #o: GatewayThreadsOptions;
  #internal: Server;
  #socket: string;
  #threads = new Map<number, Running>();
  #closing = false;

  private constructor(options: GatewayThreadsOptions, internal: Server, socket: string) {
    this.#o = options;
    this.#internal = internal;
    this.#socket = socket;
  }

  static async start(options: GatewayThreadsOptions): Promise<GatewayThreads> {
    // Abstract (Linux): nothing on disk to clean up after a crash.
    const socket = `\0faas-gateway-${process.pid}-${randomBytes(6).toString('hex')}`;
    const internal = createGatewayServer();
    internal.on('request', (req, res) => options.main.emit('request', req, res));
    internal.on('upgrade', (req, sock, head) => options.main.emit('upgrade', req, sock, head));
    await new Promise<void>((resolve, reject) => {
      internal.once('error', reject);
      internal.listen(socket, resolve);
    });
    const threads = new GatewayThreads(options, internal, socket);
    try {
      await Promise.all(Array.from({ length: options.count }, (_, i) => threads.#spawn(i + 1)));
    } catch (err) {
      await threads.close();
      throw err;
    }
    return threads;
  }

  /** What each thread did so far, in thread order. */
  stats(): Promise<GatewayThreadStats[]> {
    return Promise.all([...this.#threads.values()].map((t) => t.stats()));
  }

  /** Each thread's HTTP metrics (a thread that exits, or is too busy to answer in time, is left out). */
  async metrics(): Promise<MetricsJson[]> {
    const answers = await Promise.allSettled(
      [...this.#threads.values()].map((t) => within(t.metrics(), METRICS_ANSWER_MS)),
    );
    return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  }

  /** Ends a thread as a crash would (it is started again): for tests. */
  async terminate(index: number): Promise<void> {
    await this.#threads.get(index)?.worker.terminate();
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#threads.values()].map((t) => this.#stop(t)));
    this.#threads.clear();
    this.#internal.closeAllConnections();
    await new Promise<void>((resolve) => this.#internal.close(() => resolve()));
  }

  #spawn(index: number): Promise<void> {
    const { config, recorder, changes } = this.#o;
    const records = new MessageChannel();
    const feed = new MessageChannel();
    const held = SlotTable.heldBuffer();
    const data: GatewayThreadData = {
      index,
      config: { ...config },
      port: this.#o.port,
      mainSocket: this.#socket,
      slots: this.#o.slots.buffer,
      slotsHeld: held,
      rateBuffers: this.#o.rateBuffers,
      recordBacklog: recorder.backlog.buffer,
      records: records.port2,
      changes: feed.port2,
      isolateEndpoints: this.#o.isolateEndpoints,
      remoteContainerKinds: this.#o.remoteContainerKinds,
    };
    const worker = new Worker(new URL('./gateway-thread.ts', import.meta.url), {
      workerData: data,
      transferList: [records.port2, feed.port2],
    });
    const dropSource = recorder.addSource(records.port1);
    const unsubscribe = changes.subscribe((change) => feed.port1.postMessage(change));
    let asked = 0;
    const answers = new Map<number, { resolve: (answer: never) => void; reject: (e: Error) => void }>();
    const ask = <T>(type: 'stats' | 'metrics') =>
      new Promise<T>((resolve, reject) => {
        const id = ++asked;
        answers.set(id, { resolve: resolve as (answer: never) => void, reject });
        worker.postMessage({ type, id });
      });
    const running: Running = {
      worker,
      stats: () => ask<GatewayThreadStats>('stats'),
      metrics: () => ask<MetricsJson>('metrics'),
      detach: () => {
        unsubscribe();
        dropSource();
        records.port1.close();
        feed.port1.close();
      },
    };
    this.#threads.set(index, running);
    return new Promise((resolve, reject) => {
      let up = false;
      worker.on('message', (event: GatewayThreadEvent) => {
        if (event.type === 'listening') {
          up = true;
          resolve();
        } else if (event.type === 'stats' || event.type === 'metrics') {
          const answer = event.type === 'stats' ? event.stats : event.metrics;
          answers.get(event.id)?.resolve(answer as never);
          answers.delete(event.id);
        }
      });
      worker.on('error', (err) => {
        if (!up) reject(err);
        else this.#o.logger.error(`gateway thread ${index} failed`, err);
      });
      worker.on('exit', (code) => {
        running.detach();
        // Its running invocations are gone with it: so are the slots they held.
        const released = this.#o.slots.releaseHeld(held);
        if (released > 0)
          this.#o.logger.error(`gateway thread ${index} exited holding ${released} slot(s); released`);
        for (const { reject: fail } of answers.values()) fail(new Error(`gateway thread ${index} exited`));
        answers.clear();
        if (this.#threads.get(index) === running) this.#threads.delete(index);
        if (!up) return reject(new Error(`gateway thread ${index} exited with ${code} before listening`));
        if (this.#closing) return;
        this.#o.logger.error(`gateway thread ${index} exited with ${code}; starting it again`);
        setTimeout(() => {
          if (!this.#closing)
            this.#spawn(index).catch((err) => this.#o.logger.error(`gateway thread ${index}`, err));
        }, RESPAWN_DELAY_MS).unref();
      });
    });
  }

  async #stop(running: Running): Promise<void> {
    const { worker } = running;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
