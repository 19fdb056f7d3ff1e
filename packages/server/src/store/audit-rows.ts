import type { AuditEntry } from '@faas/core';

/** An `audit` row, as both stores keep it. */
export interface AuditRow {
  id: string;
  at: string;
  project: string;
  actor_key_id: string;
  actor_name: string;
  actor_role: string;
  action: string;
  target: string | null;
  status: number;
  address: string;
}

export const AUDIT_COLUMNS =
  'id, at, project, actor_key_id, actor_name, actor_role, action, target, status, address';

/** An entry's values in the order of AUDIT_COLUMNS. */
export function auditValues(entry: AuditEntry): Array<string | number | null> {
  return [
    entry.id,
    entry.at,
    entry.project,
    entry.actor.keyId,
    entry.actor.keyName,
    entry.actor.role,
    entry.action,
    entry.target ?? null,
    entry.status,
    entry.address,
  ];
}

export function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    project: row.project,
    actor: { keyId: row.actor_key_id, keyName: row.actor_name, role: row.actor_role },
    action: row.action,
    ...(row.target !== null ? { target: row.target } : {}),
    status: Number(row.status),
    address: row.address,
  };
}
