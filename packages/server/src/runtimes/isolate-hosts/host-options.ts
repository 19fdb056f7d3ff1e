/** What the server passes a host (as JSON, its one argument). */
export interface IsolateHostOptions {
  index: number;
  socketPath: string;
  /** The local blob store's root, where function artifacts are read from. */
  blobsRoot: string;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  /** Memory for all of this host's isolates together (see IsolateBudget). */
  memoryBudgetMb: number;
  /** Isolates this host keeps at most, idle or busy. */
  maxIsolates: number;
}

export type HostCommand = { type: 'close' };
export type HostEvent = { type: 'ready' } | { type: 'fatal'; message: string };
