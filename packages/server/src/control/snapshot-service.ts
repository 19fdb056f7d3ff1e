import {
  type BlobStore,
  ErrorCode,
  FaasError,
  type MetadataStore,
  newId,
  type Page,
  type PageRequest,
  type SnapshotFilter,
  type SnapshotRecord,
  type SnapshotView,
} from '@faas/core';
import type { Instance } from '../runtimes/container/instances/instance.ts';
import { INSTANCE_WORKDIR } from '../runtimes/container/instances/instance-container.ts';
import { tarFolder, untarInto } from '../runtimes/container/instances/instance-files.ts';
import type { InstanceService } from './instance-service.ts';

export interface SnapshotServiceOptions {
  store: MetadataStore;
  blobs: BlobStore;
  instances: InstanceService;
}

const MAX_FORKS = 16;

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
  #instances: InstanceService;

  constructor(options: SnapshotServiceOptions) {
    this.#store = options.store;
    this.#blobs = options.blobs;
    this.#instances = options.instances;
  }

  async create(
    instanceId: string,
    options: { name?: string; executionId?: string } = {},
  ): Promise<SnapshotRecord> {
    const manager = this.#instances.manager;
    const instance = await manager.get(instanceId);
    // gVisor cannot checkpoint a sandbox whose sockets are the host kernel's, as network
    // sandboxes' are here (container-limits.ts): those get the files, as runc instances do.
    const memory = instance.spec.isolation === 'gvisor' && !instance.spec.network;
    const { tar, processes } = memory
      ? await manager.checkpoint(instanceId)
      : // runc cannot checkpoint memory here: the snapshot is the working folder, as a tar.
        { tar: await tarFolder(instance, INSTANCE_WORKDIR), processes: [] };
    const blob = await this.#blobs.put(tar);
    const snapshot: SnapshotRecord = {
      id: newId('snap'),
      ...(options.name ? { name: options.name } : {}),
      instanceId,
      ...(options.executionId ? { executionId: options.executionId } : {}),
      kind: memory ? 'memory' : 'filesystem',
      spec: instance.spec,
      ...(processes.length > 0 ? { processes } : {}),
      blobChecksum: blob.sha256,
      sizeBytes: tar.length,
      createdAt: Date.now(),
    };
    await this.#store.createSnapshot(snapshot);
    if (keepsStandbys(snapshot))
      manager.prepareRestore(snapshot.id, snapshot.spec, () => this.#data(snapshot));
    return snapshot;
  }

  /** @throws FaasError NOT_FOUND */
  async get(id: string): Promise<SnapshotRecord> {
    const snapshot = await this.#store.getSnapshot(id);
    if (!snapshot) throw new FaasError(ErrorCode.NOT_FOUND, `No snapshot "${id}"`);
    return snapshot;
  }

  list(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>> {
    return this.#store.listSnapshots(filter, page);
  }

  /** The snapshot an execution took (for `branched` with an execution as parent). */
  async forExecution(executionId: string): Promise<SnapshotRecord | undefined> {
    return (await this.#store.listSnapshots({ executionId }, { limit: 1 })).items[0];
  }

  async delete(id: string): Promise<void> {
    const snapshot = await this.get(id);
    await this.#store.deleteSnapshot(id);
    await this.#instances.manager.forgetSnapshot(id).catch(() => {});
    // Content-addressed: another snapshot with the same bytes shares the blob.
    if (!(await this.#blobShared(snapshot.blobChecksum))) await this.#blobs.delete(snapshot.blobChecksum);
  }

  /** A new instance from the snapshot. */
  async restore(id: string): Promise<Instance> {
    const [instance] = await this.fork(id, 1);
    return instance as Instance;
  }

  /** `count` independent instances from one snapshot; all or none. */
  async fork(id: string, count: number): Promise<Instance[]> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_FORKS) {
      throw new FaasError(ErrorCode.VALIDATION, `count must be 1 to ${MAX_FORKS}`);
    }
    const snapshot = await this.get(id);
    const tar = await this.#data(snapshot);
    const manager = this.#instances.manager;
    if (snapshot.kind === 'memory') {
      const restored = await manager.restore(snapshot.spec, tar, {
        count,
        ...(keepsStandbys(snapshot)
          ? { standbys: { snapshotId: id, load: () => this.#data(snapshot) } }
          : {}),
      });
      for (const instance of restored) instance.adopt(snapshot.processes ?? []);
      return restored;
    }
    const results = await Promise.allSettled(
      Array.from({ length: count }, () => this.#restoreFiles(snapshot, tar)),
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

  /** A fresh instance of the snapshot's spec with its /workspace files. */
  async #restoreFiles(snapshot: SnapshotRecord, tar: Uint8Array): Promise<Instance> {
    const manager = this.#instances.manager;
    const instance = await manager.create(snapshot.spec);
    try {
      await untarInto(instance, INSTANCE_WORKDIR, tar);
    } catch (err) {
      await manager.delete(instance.id).catch(() => {});
      throw err;
    }
    return instance;
  }

  async #data(snapshot: SnapshotRecord): Promise<Uint8Array> {
    const tar = await this.#blobs.get(snapshot.blobChecksum);
    if (!tar) {
      throw new FaasError(
        ErrorCode.INTERNAL,
        `The data of snapshot ${snapshot.id} is missing from the blob store`,
      );
    }
    return tar;
  }

  async #blobShared(checksum: string): Promise<boolean> {
    let cursor: string | undefined;
    do {
      const page = await this.#store.listSnapshots({}, { limit: 500, ...(cursor ? { cursor } : {}) });
      if (page.items.some((s) => s.blobChecksum === checksum)) return true;
      cursor = page.nextCursor;
    } while (cursor);
    return false;
  }
}

/** An execution's snapshot is resumed once or twice at most; a named one is worth standbys. */
function keepsStandbys(snapshot: SnapshotRecord): boolean {
  return snapshot.kind === 'memory' && snapshot.executionId === undefined;
}
