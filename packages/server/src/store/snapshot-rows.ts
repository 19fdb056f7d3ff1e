import { DEFAULT_PROJECT, type SnapshotProcess, type SnapshotRecord } from '@faas/core';

/** A `snapshots` row, as both stores keep it. */
export interface SnapshotRow {
  id: string;
  name: string | null;
  instance_id: string;
  execution_id: string | null;
  kind: SnapshotRecord['kind'];
  spec: string;
  processes: string | null;
  blob_checksum: string;
  size_bytes: number;
  created_at: number;
}

export const SNAPSHOT_COLUMNS =
  'id, name, instance_id, execution_id, kind, spec, processes, blob_checksum, size_bytes, created_at, project';

/** A snapshot's values in the order of SNAPSHOT_COLUMNS. */
export function snapshotValues(snapshot: SnapshotRecord): Array<string | number | null> {
  return [
    snapshot.id,
    snapshot.name ?? null,
    snapshot.instanceId,
    snapshot.executionId ?? null,
    snapshot.kind,
    JSON.stringify(snapshot.spec),
    snapshot.processes ? JSON.stringify(snapshot.processes) : null,
    snapshot.blobChecksum,
    snapshot.sizeBytes,
    snapshot.createdAt,
    snapshot.spec.project ?? DEFAULT_PROJECT,
  ];
}

export function toSnapshot(row: SnapshotRow): SnapshotRecord {
  return {
    id: row.id,
    ...(row.name !== null ? { name: row.name } : {}),
    instanceId: row.instance_id,
    ...(row.execution_id !== null ? { executionId: row.execution_id } : {}),
    kind: row.kind,
    spec: JSON.parse(row.spec) as SnapshotRecord['spec'],
    ...(row.processes !== null ? { processes: JSON.parse(row.processes) as SnapshotProcess[] } : {}),
    blobChecksum: row.blob_checksum,
    sizeBytes: row.size_bytes,
    createdAt: row.created_at,
  };
}
