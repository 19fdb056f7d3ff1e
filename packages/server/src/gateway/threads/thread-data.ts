import type { MessagePort } from 'node:worker_threads';
import type { Config } from '@faas/core';

/** What the main thread hands a gateway thread (workerData). */
export interface GatewayThreadData {
  index: number;
  config: Config;
  /** The port the main thread listens on (with reusePort), which this thread shares. */
  port: number;
  /** The main thread's internal listener: requests this thread does not serve go there. */
  mainSocket: string;
  /** The SlotTable's buffer: max concurrency counted across threads. */
  slots: SharedArrayBuffer;
  /** The recorder's backlog flag: set while sync calls must be refused (RecordBacklog). */
  recordBacklog: SharedArrayBuffer;
  /** Posts each finished invocation (RecordMessage) to the main thread's recorder. */
  records: MessagePort;
  /** PlatformChanges from the main thread, taken in before every request. */
  changes: MessagePort;
}

/** What a gateway thread tells the main thread on its parentPort. */
export type GatewayThreadEvent =
  | { type: 'listening' }
  | { type: 'stats'; id: number; stats: { served: number; passed: number } };

/** What the main thread asks of a gateway thread. */
export type GatewayThreadCommand = { type: 'close' } | { type: 'stats'; id: number };
