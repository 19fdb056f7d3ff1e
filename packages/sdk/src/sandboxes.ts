import { ERROR_STATUS, type InstanceView, type Page, type SnapshotView } from './api-types.ts';
import { FaasApiError } from './errors.ts';
import {
  type InstanceStream,
  openInstanceStream,
  type StreamOptions,
  type WebSocketClass,
} from './instance-stream.ts';
import type {
  AdvancedExecuteRequest,
  AdvancedExecuteResult,
  Command,
  CreateInstanceRequest,
  ExecuteExit,
  ExecuteMode,
  ExecuteRequest,
  ExecuteResult,
  ExecuteStreamEvent,
  FolderListing,
  InstanceExecOptions,
  InstanceExecResult,
  SnapshotFilter,
} from './sandbox-types.ts';
import { enc, parseJson, query, type Transport } from './transport.ts';

/** Caller options of a request that runs a command. */
export interface RunOptions {
  /** Aborting closes the request, which kills the command; the call rejects with the reason. */
  signal?: AbortSignal;
}

/**
 * The sandbox API: one-off commands (execute), instances that stay up, their files and event
 * stream, and snapshots (docs/api.md "Execute", docs/instances.md). Answers are the API's own
 * snake_case views. Reached as `client.sandboxes`.
 *
 * @example
 * const { stdout, exit_code } = await client.sandboxes.execute({ command: 'echo hi' });
 * const box = await client.sandboxes.createInstance({ isolation: 'gvisor' });
 * await client.sandboxes.writeFile(box.id, 'in.txt', 'data');
 * const snap = await client.sandboxes.createSnapshot(box.id, 'before');
 * const [a, b] = await client.sandboxes.forkSnapshot(snap.id, 2);
 */
export class SandboxApi {
  #http: Transport;
  #WebSocket: WebSocketClass | undefined;

  constructor(transport: Transport, webSocket?: WebSocketClass) {
    this.#http = transport;
    this.#WebSocket = webSocket;
  }

  /** A command in a fresh container; a non-zero exit, timeout or OOM kill is a result, not an error. */
  execute(request: ExecuteRequest, options: RunOptions = {}): Promise<ExecuteResult> {
    return this.#http.json('POST', '/api/v1/execute', request, options);
  }

  /** With a mode; `persistent` answers the instance it started, the others an ExecuteResult. */
  executeAdvanced<M extends ExecuteMode>(
    request: AdvancedExecuteRequest<M>,
    options: RunOptions = {},
  ): Promise<AdvancedExecuteResult<M>> {
    return this.#http.json('POST', '/api/v1/execute/advanced', request, options);
  }

  /**
   * Streams the output: `onEvent` gets each NDJSON line as the container writes, and the call
   * resolves with the last (`exit`) line. A request with a mode goes to `/execute/advanced`.
   * An `error` line rejects as a FaasApiError (after `onEvent` saw it).
   */
  async executeStream(
    request: ExecuteRequest | AdvancedExecuteRequest<Exclude<ExecuteMode, 'persistent'>>,
    onEvent: (event: ExecuteStreamEvent) => void,
    options: RunOptions = {},
  ): Promise<ExecuteExit> {
    const path = 'mode' in request ? '/api/v1/execute/advanced?stream=true' : '/api/v1/execute/stream';
    const res = await this.#http.request('POST', path, {
      body: JSON.stringify(request),
      contentType: 'application/json',
      signal: options.signal,
    });
    let exit: ExecuteExit | undefined;
    for await (const line of this.#http.lines(res, options.signal)) {
      const event = parseJson<ExecuteStreamEvent>(res, line);
      onEvent(event);
      if (event.type === 'error') {
        const { code, message, details } = event.error;
        const status = (ERROR_STATUS as Record<string, number | undefined>)[code] ?? 500;
        throw new FaasApiError(status, code, message, details);
      }
      if (event.type === 'exit') {
        const { type: _type, ...summary } = event;
        exit = summary;
      }
    }
    if (!exit)
      throw this.#http.connectionError(new Error('the stream ended before the exit line'), options.signal);
    return exit;
  }

  createInstance(request: CreateInstanceRequest = {}): Promise<InstanceView> {
    return this.#http.json('POST', '/api/v1/instances', request);
  }

  /** Newest first. */
  async listInstances(): Promise<InstanceView[]> {
    return (await this.#http.json<{ items: InstanceView[] }>('GET', '/api/v1/instances')).items;
  }

  getInstance(id: string): Promise<InstanceView> {
    return this.#http.json('GET', `/api/v1/instances/${enc(id)}`);
  }

  /** Runs a command in the instance and waits for it. In a stopped instance: 409. */
  exec(id: string, command: Command, options: InstanceExecOptions = {}): Promise<InstanceExecResult> {
    const { signal, ...fields } = options;
    return this.#http.json('POST', `/api/v1/instances/${enc(id)}/exec`, { command, ...fields }, { signal });
  }

  /** Processes end and `/workspace` is emptied; the instance can be started again. */
  stopInstance(id: string): Promise<InstanceView> {
    return this.#http.json('POST', `/api/v1/instances/${enc(id)}/stop`);
  }

  startInstance(id: string): Promise<InstanceView> {
    return this.#http.json('POST', `/api/v1/instances/${enc(id)}/start`);
  }

  async deleteInstance(id: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/instances/${enc(id)}`);
  }

  /** A file's bytes; relative paths are under `/workspace`. A folder is a 400 (use listFiles). */
  async readFile(id: string, path: string): Promise<Uint8Array> {
    const res = await this.#http.request('GET', this.#filesPath(id, path));
    if (isJson(res)) throw notA('file', path, 'listFiles');
    return this.#http.bytes(res);
  }

  /** Writes the file, making its folders. */
  async writeFile(
    id: string,
    path: string,
    data: string | Uint8Array,
  ): Promise<{ path: string; size: number }> {
    const res = await this.#http.request('PUT', this.#filesPath(id, path), {
      body: typeof data === 'string' ? data : new Uint8Array(data),
      contentType: 'application/octet-stream',
    });
    return this.#http.readJson(res);
  }

  /** A folder's entries. A file is a 400 (use readFile). */
  async listFiles(id: string, path = '.'): Promise<FolderListing> {
    const res = await this.#http.request('GET', this.#filesPath(id, path));
    if (!isJson(res)) throw notA('folder', path, 'readFile');
    return this.#http.readJson(res);
  }

  /** Under gVisor a memory snapshot (processes continue in the restore), under runc `/workspace`. */
  createSnapshot(instanceId: string, name?: string): Promise<SnapshotView> {
    return this.#http.json('POST', '/api/v1/snapshots', {
      instance_id: instanceId,
      ...(name ? { name } : {}),
    });
  }

  /** Newest first, a page at a time. */
  listSnapshots(filter: SnapshotFilter = {}): Promise<Page<SnapshotView>> {
    return this.#http.json('GET', `/api/v1/snapshots${query(filter)}`);
  }

  getSnapshot(id: string): Promise<SnapshotView> {
    return this.#http.json('GET', `/api/v1/snapshots/${enc(id)}`);
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/snapshots/${enc(id)}`);
  }

  /** A new instance from the snapshot. */
  restoreSnapshot(id: string): Promise<InstanceView> {
    return this.#http.json('POST', `/api/v1/snapshots/${enc(id)}/restore`);
  }

  /** `count` (1–16) independent instances from one snapshot: all or none. */
  async forkSnapshot(id: string, count = 2): Promise<InstanceView[]> {
    const path = `/api/v1/snapshots/${enc(id)}/fork`;
    return (await this.#http.json<{ instances: InstanceView[] }>('POST', path, { count })).instances;
  }

  /**
   * The instance's events over a WebSocket, and a way to send it commands: to `onEvent`, or by
   * iterating the stream (`for await (const event of client.sandboxes.stream(id))`).
   *
   * @example
   * const stream = client.sandboxes.stream(id, { onEvent: (e) => e.type === 'stdout' && print(e.data) });
   * await stream.opened;
   * stream.send({ type: 'exec', command: 'make test' });
   */
  stream(id: string, options: StreamOptions = {}): InstanceStream {
    const url = new URL(`${this.#http.baseUrl}/api/v1/instances/${enc(id)}/stream`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (options.heartbeatMs !== undefined) url.searchParams.set('heartbeat_ms', String(options.heartbeatMs));
    return openInstanceStream(
      url.toString(),
      this.#http.authHeaders(),
      options,
      () => this.getInstance(id),
      this.#WebSocket,
    );
  }

  #filesPath(id: string, path: string): string {
    return `/api/v1/instances/${enc(id)}/files${query({ path })}`;
  }
}

function isJson(res: Response): boolean {
  return (res.headers.get('content-type') ?? '').startsWith('application/json');
}

/** What the server would say, said by the client: the path is the other kind. */
function notA(kind: 'file' | 'folder', path: string, instead: string): FaasApiError {
  return new FaasApiError(400, 'FAAS_ERR_BAD_REQUEST', `${path} is not a ${kind}: use ${instead}`, { path });
}
