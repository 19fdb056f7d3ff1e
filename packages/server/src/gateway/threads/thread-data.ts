import type { MetricsJson } from '../../observability/metrics-scrape.ts';
import type { ThreadPlatformInput } from '../../thread-platform.ts';

/** What the main thread hands a gateway thread (workerData): its platform's parts, and the port. */
export interface GatewayThreadData extends ThreadPlatformInput {
  index: number;
  /** The port the main thread listens on (with reusePort), which this thread shares. */
  port: number;
  /** The main thread's internal listener: requests this thread does not serve go there. */
  mainSocket: string;
}

/** What a gateway thread tells the main thread on its parentPort. */
export type GatewayThreadEvent =
  | { type: 'listening' }
  | { type: 'stats'; id: number; stats: { served: number; passed: number } }
  | { type: 'metrics'; id: number; metrics: MetricsJson };

/** What the main thread asks of a gateway thread. */
export type GatewayThreadCommand = { type: 'close' } | { type: 'stats' | 'metrics'; id: number };
