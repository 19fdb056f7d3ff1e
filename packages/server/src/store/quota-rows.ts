import type { ProjectQuotas } from '@faas/core';

/** One quota out of a `projects.quotas` column (undefined: no such quota). */
export function quotaOf(column: string | null | undefined, quota: keyof ProjectQuotas): number | undefined {
  return column ? (JSON.parse(column) as ProjectQuotas)[quota] : undefined;
}

/** The SQL both stores read a project's quotas with (one placeholder, the project). */
export const QUOTAS_OF_PROJECT = (placeholder: string) =>
  `SELECT quotas FROM projects WHERE name = ${placeholder}`;
