/** What the server passes a host (as JSON, its one argument). */
export interface IsolateHostOptions {
  index: number;
  socketPath: string;
  /** The local blob store's root (or S3's local cache), where function artifacts are read from. */
  blobsRoot: string;
  /** Ask the server for a blob not in `blobsRoot` (S3: the server fetches it into the cache). */
  fetchMissing: boolean;
  /** This host's own folder of V8 code caches (see CodeCacheFolder); kept when it is replaced. */
  codeCacheDir: string;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  /** Memory for all of this host's isolates together (see IsolateBudget). */
  memoryBudgetMb: number;
  /** Isolates this host keeps at most, idle or busy. */
  maxIsolates: number;
}

export type HostCommand =
  | { type: 'close' }
  /** Liveness: the host answers `pong` from its main thread (see IsolateHosts). */
  | { type: 'ping' }
  /** The answer to a `fetch-blob`: whether the blob is now in `blobsRoot`. */
  | { type: 'blob-fetched'; id: number; found: boolean; error?: string };
export type HostEvent =
  | { type: 'ready' }
  | { type: 'pong' }
  | { type: 'fatal'; message: string }
  | { type: 'fetch-blob'; id: number; sha256: string };
