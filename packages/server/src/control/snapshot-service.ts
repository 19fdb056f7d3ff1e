import type { Readable } from 'node:stream';
import {
  type BlobInfo,
  type BlobStore,
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type InstanceSpec,
  inScope,
  isFaasError,
  type MetadataStore,
  newId,
  type Page,
  type PageRequest,
  type SnapshotFilter,
  type SnapshotProcess,
  type SnapshotRecord,
  type SnapshotView,
} from '@faas/core';
import type { Instance } from '../runtimes/container/instances/instance.ts';
import { INSTANCE_WORKDIR } from '../runtimes/container/instances/instance-container.ts';
import { tarFolderStream, untarFrom } from '../runtimes/container/instances/instance-files.ts';
import { restoredSpec } from './instance-limits.ts';
import type { InstanceService } from './instance-service.ts';

export interface SnapshotServiceOptions {
  store: MetadataStore;
  blobs: BlobStore;
  instances: InstanceService;
  /** Told how long each snapshot and restore took (observability/sandbox-metrics.ts). */
  metrics?: {
    snapshotTaken(kind: SnapshotRecord['kind'], seconds: number): void;
    restored(kind: SnapshotRecord['kind'], seconds: number): void;
  };
}

const MAX_FORKS = 16;

export interface RestoreOptions {
  /** The API key the instances belong to. */
  owner?: string;
  /** The caller's project: another project's snapshot is not found. */
  scope?: string;
  /** Recorded in the cluster's placements (the API's instances; not an execute's own). @default true */
  pin?: boolean;
}

/** The public view of a snapshot. */
export function snapshotView(snapshot: SnapshotRecord): SnapshotView {
  return {
    id: snapshot.id,
    name: snapshot.name ?? null,
    instance_id: snapshot.instanceId,
    execution_id: snapshot.executionId ?? null,
    kind: snapshot.kind,
    image: snapshot.spec.image,
    isolation: snapshot.spec.isolation,
    size_bytes: snapshot.sizeBytes,
    created_at: new Date(snapshot.createdAt).toISOString(),
  };
}

/**
 * Snapshots of instances, kept in the blob store (the tar) and the metadata store (the record).
 * Under gVisor a snapshot is a checkpoint of memory and files, and a restore continues the
 * processes; under runc it is the /workspace folder only, and a restore starts fresh processes
 * on those files.
 */
export class SnapshotService {
  #store: MetadataStore;
  #blobs: BlobStore;
  /** Snapshots of this process between the start of their blob's write and their record's. */
  #writing = 0;
  #instances: InstanceService;
  #metrics: SnapshotServiceOptions['metrics'];

  constructor(options: SnapshotServiceOptions) {
    this.#metrics = options.metrics;
    this.#store = options.store;
    this.#blobs = options.blobs;
    this.#instances = options.instances;
  }

  async create(
    instanceId: string,
    options: { name?: string; executionId?: string } = {},
  ): Promise<SnapshotRecord> {
    const started = performance.now();
    const snapshot = await this.#create(instanceId, options);
    this.#metrics?.snapshotTaken(snapshot.kind, (performance.now() - started) / 1000);
    return snapshot;
  }

  async #create(
    instanceId: string,
    options: { name?: string; executionId?: string },
  ): Promise<SnapshotRecord> {
    const manager = this.#instances.manager;
    const instance = await manager.get(instanceId);
    // gVisor cannot checkpoint a sandbox whose sockets are the host kernel's, as network
    // sandboxes' are here (container-limits.ts): those get the files, as runc instances do.
    const memory = instance.spec.isolation === 'gvisor' && !instance.spec.network;
    this.#writing++;
    let written: { blob: BlobInfo; processes: SnapshotProcess[] };
    try {
      written = await this.#save(instance, memory);
    } catch (err) {
      this.#writing--;
      throw err;
    }
    const { blob, processes } = written;
    const snapshot: SnapshotRecord = {
      id: newId('snap'),
      ...(options.name ? { name: options.name } : {}),
      instanceId,
      ...(options.executionId ? { executionId: options.executionId } : {}),
      kind: memory ? 'memory' : 'filesystem',
      spec: instance.spec,
      ...(processes.length > 0 ? { processes } : {}),
      blobChecksum: blob.sha256,
      sizeBytes: blob.sizeBytes,
      createdAt: Date.now(),
    };
    try {
      await this.#store.createSnapshot(snapshot);
    } catch (err) {
      this.#writing--;
      // Refused (the project's snapshotStorageBytes quota) or failed: the blob it wrote must
      // not stay behind, unless it is another snapshot's too (content-addressed).
      await this.#dropUnused(blob.sha256).catch(() => {});
      throw err;
    }
    this.#writing--;
    if (keepsStandbys(snapshot))
      manager.prepareRestore(snapshot.id, restoredSpec(snapshot.spec, this.#instances.limits), () =>
        this.#stream(snapshot),
      );
    return snapshot;
  }

  /**
   * @param scope the caller's project (undefined: every project): another project's snapshot is
   *   not found
   * @throws FaasError NOT_FOUND
   */
  async get(id: string, scope?: string): Promise<SnapshotRecord> {
    const snapshot = await this.#store.getSnapshot(id);
    if (!snapshot || !inScope(scope, snapshot.spec.project)) {
      throw new FaasError(ErrorCode.NOT_FOUND, `No snapshot "${id}"`);
    }
    return snapshot;
  }

  list(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>> {
    return this.#store.listSnapshots(filter, page);
  }

  /** The snapshot an execution took (for `branched` with an execution as parent). */
  async forExecution(executionId: string, scope?: string): Promise<SnapshotRecord | undefined> {
    const filter = { executionId, ...(scope !== undefined ? { project: scope } : {}) };
    return (await this.#store.listSnapshots(filter, { limit: 1 })).items[0];
  }

  async delete(id: string, scope?: string): Promise<void> {
    const snapshot = await this.get(id, scope);
    await this.#store.deleteSnapshot(id);
    await this.#instances.manager.forgetSnapshot(id).catch(() => {});
    await this.#dropUnused(snapshot.blobChecksum);
  }

  /** A new instance from the snapshot. */
  async restore(id: string, options: RestoreOptions = {}): Promise<Instance> {
    const [instance] = await this.fork(id, 1, options);
    return instance as Instance;
  }

  /**
   * `count` independent instances from one snapshot, all or none, for `owner` (an API key id).
   * @throws FaasError INSTANCE_LIMIT when they would pass a bound on live instances
   */
  async fork(
    id: string,
    count: number,
    { scope, pin = true, ...options }: RestoreOptions = {},
  ): Promise<Instance[]> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_FORKS) {
      throw new FaasError(ErrorCode.VALIDATION, `count must be 1 to ${MAX_FORKS}`);
    }
    const snapshot = await this.get(id, scope);
    const started = performance.now();
    const restored = await this.#instances.withinQuota(
      snapshot.spec.project ?? DEFAULT_PROJECT,
      count,
      () => this.#forkOf(snapshot, count, options),
      pin,
      options.owner,
    );
    this.#metrics?.restored(snapshot.kind, (performance.now() - started) / 1000);
    return restored;
  }

  async #forkOf(snapshot: SnapshotRecord, count: number, options: { owner?: string }): Promise<Instance[]> {
    const id = snapshot.id;
    const manager = this.#instances.manager;
    const spec = restoredSpec(snapshot.spec, this.#instances.limits);
    if (snapshot.kind === 'memory') {
      const load = () => this.#stream(snapshot);
      const restored = await manager.restore(spec, load, {
        count,
        ...options,
        ...(keepsStandbys(snapshot) ? { standbys: { snapshotId: id, load } } : {}),
      });
      for (const instance of restored) instance.adopt(snapshot.processes ?? []);
      return restored;
    }
    const results = await Promise.allSettled(
      Array.from({ length: count }, () => this.#restoreFiles(snapshot, spec, options)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(
        results.map((r) =>
          r.status === 'fulfilled' ? manager.delete(r.value.id).catch(() => {}) : undefined,
        ),
      );
      throw failed.reason;
    }
    return results.map((r) => (r as PromiseFulfilledResult<Instance>).value);
  }

  /** A fresh instance of the snapshot's spec with its /workspace files, streamed in. */
  async #restoreFiles(
    snapshot: SnapshotRecord,
    spec: InstanceSpec,
    options: { owner?: string },
  ): Promise<Instance> {
    const manager = this.#instances.manager;
    const instance = await manager.create(spec, options);
    try {
      await untarFrom(instance, INSTANCE_WORKDIR, await this.#stream(snapshot), Number.POSITIVE_INFINITY);
    } catch (err) {
      await manager.delete(instance.id).catch(() => {});
      throw err;
    }
    return instance;
  }

  async #stream(snapshot: SnapshotRecord): Promise<Readable> {
    const tar = await this.#blobs.getStream(snapshot.blobChecksum);
    if (!tar) {
      // Deleted since it was looked up (its data goes with it): as absent as one never made.
      await this.get(snapshot.id);
      throw new FaasError(
        ErrorCode.INTERNAL,
        `The data of snapshot ${snapshot.id} is missing from the blob store`,
      );
    }
    return tar;
  }

  /** The snapshot's bytes into the blob store: the sandbox's memory, or its working folder. */
  async #save(
    instance: Instance,
    memory: boolean,
  ): Promise<{ blob: BlobInfo; processes: SnapshotProcess[] }> {
    if (memory) {
      // Streamed from the engine's checkpoint folder into the blob store.
      const checkpoint = await this.#instances.manager.checkpoint(instance.id, (tar) =>
        this.#blobs.putStream(tar),
      );
      return { blob: checkpoint.saved, processes: checkpoint.processes };
    }
    // runc cannot checkpoint memory here: the snapshot is the working folder, as a tar,
    // streamed from the instance into the blob store.
    const bound = workspaceTarBound(instance.spec);
    const tar = await tarFolderStream(instance, INSTANCE_WORKDIR, bound);
    const blob = await this.#blobs.putStream(tar).catch((err: unknown) => {
      if (!isFaasError(err) || err.code !== ErrorCode.BODY_TOO_LARGE) throw err;
      throw new FaasError(
        ErrorCode.VALIDATION,
        `The workspace's tar passed ${bound} bytes (twice disk_mb and 64 MiB) and was not kept: sparse files count at their full size`,
        { details: { limit: bound } },
      );
    });
    return { blob, processes: [] };
  }

  /**
   * Deletes a blob no record names (a deleted or refused snapshot's). Content-addressed: another snapshot
   * with the same bytes shares it, and a snapshot of this process being written may be about to
   * (its blob written, its record not yet): while one is, the blob stays, for the collector
   * (BlobCollector).
   */
  async #dropUnused(checksum: string): Promise<void> {
    if (this.#writing > 0 || (await this.#store.blobsNamed([checksum])).size > 0 || this.#writing > 0) return;
    await this.#blobs.delete(checksum);
  }
}

/**
 * A /workspace tar is refused past this: the folder holds at most `disk_mb`, and tar adds a
 * header per file; a sparse file (a huge size in no space) would otherwise be read without end.
 */
function workspaceTarBound(spec: InstanceSpec): number {
  return 2 * spec.diskMb * 1024 * 1024 + 64 * 1024 * 1024;
}

/** An execution's snapshot is resumed once or twice at most; a named one is worth standbys. */
function keepsStandbys(snapshot: SnapshotRecord): boolean {
  return snapshot.kind === 'memory' && snapshot.executionId === undefined;
}
