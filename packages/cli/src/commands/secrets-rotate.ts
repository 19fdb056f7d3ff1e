import { ErrorCode, isFaasError, loadConfig } from '@faas/core';
import { CliError, EXIT } from '../exit-codes.ts';
import { type Output, print } from '../output.ts';

/**
 * `faas secrets rotate`: the second step of a rotation of FAAS_SECRET_KEY on a PostgreSQL store
 * servers share (docs/security.md). Once every server runs with the new key and the old one as
 * FAAS_SECRET_KEY_PREVIOUS, it puts the new key on record (every server writes with it from then
 * on) and re-encrypts the secrets still under the old one. It works on the store directly, with
 * the same two settings as the servers, so no key travels over the API. Safe to run again: it
 * moves what is left.
 */
export async function rotateSecrets(out: Output, flags: { databaseUrl?: string }): Promise<void> {
  const env = {
    FAAS_DATABASE_URL: flags.databaseUrl ?? process.env.FAAS_DATABASE_URL,
    FAAS_SECRET_KEY: process.env.FAAS_SECRET_KEY,
    FAAS_SECRET_KEY_PREVIOUS: process.env.FAAS_SECRET_KEY_PREVIOUS,
  };
  if (!env.FAAS_DATABASE_URL) {
    throw new CliError(
      'FAAS_DATABASE_URL is not set (nor --database-url): only a PostgreSQL store is rotated this way; a server on the embedded SQLite store rotates its own when it starts with FAAS_SECRET_KEY and FAAS_SECRET_KEY_PREVIOUS',
      EXIT.USAGE,
    );
  }
  if (!env.FAAS_SECRET_KEY || !env.FAAS_SECRET_KEY_PREVIOUS) {
    throw new CliError(
      'Set FAAS_SECRET_KEY to the new key and FAAS_SECRET_KEY_PREVIOUS to the old one, as every server now runs (never as arguments: they would stay in shell history and `ps`)',
      EXIT.USAGE,
    );
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    // The server's own checks of the settings: the same messages, no key or password echoed.
    config = loadConfig(env);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.USAGE);
  }
  const { openPostgresStore } = await import('../../../server/src/store/postgres/postgres-store.ts');
  const { SecretService } = await import('../../../server/src/control/secret-service.ts');
  const { SecretVault } = await import('../../../server/src/control/secret-vault.ts');
  let result: { keyId: string; reencrypted: number; unreadable: string[] };
  try {
    const store = await openPostgresStore({ url: config.databaseUrl as string, migrate: false });
    try {
      const vault = SecretVault.open(config, false);
      result = { keyId: vault.keyId, ...(await new SecretService(store, vault).rotate()) };
    } finally {
      await store.close();
    }
  } catch (err) {
    if (isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE) {
      throw new CliError(err.message, EXIT.UNREACHABLE);
    }
    if (isFaasError(err) && err.code === ErrorCode.SECRET_KEY_MISMATCH) {
      throw new CliError(err.message, EXIT.REJECTED);
    }
    throw err;
  }
  print(out, result, () => {
    const lines = [
      `The store's secrets are kept under key id ${result.keyId}: re-encrypted ${result.reencrypted} secret(s)`,
    ];
    if (result.unreadable.length > 0) {
      lines.push(
        `${result.unreadable.length} secret(s) decrypt with neither key and were left as they are (set them again): ${result.unreadable.join(', ')}`,
      );
    }
    return lines.join('\n');
  });
}
