import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  MAX_SECRET_VALUE_BYTES,
  type MetadataStore,
  SECRET_NAME_PATTERN,
  type SecretRecord,
  type SecretSummary,
} from '@faas/core';
import { type Redactor, redactorOf } from './secret-redactor.ts';
import type { SecretVault } from './secret-vault.ts';

/**
 * The store's setting that names the key its secrets are kept under (its id: the first 16 hex
 * digits of its sha256, as every secret row already holds): servers sharing a store must share
 * the key, and this is how one that does not finds out.
 */
export const SECRET_KEY_SETTING = 'secret-key-id';

/**
 * Listings a re-encryption goes through at most: each one after the first only for secrets set
 * by another server meanwhile (what is left stays readable by the previous key, and is moved by
 * the next re-encryption).
 */
const REENCRYPT_PASSES = 5;

/** Decrypted values kept at most (then the cache starts over). */
const MAX_OPENED = 10_000;
/** Redactors kept at most (then the cache starts over). */
const MAX_REDACTORS = 1_000;

/** A version with its secrets' values in its env, and what hides those values in its output. */
export interface RevealedVersion {
  fn: FunctionVersion;
  redact: Redactor;
}

/**
 * Projects' secrets: set, listed (names and times only) and deleted per project; revealed only
 * to the functions that name them, as env, at the moment they run.
 */
export class SecretService {
  #store: SecretStore;
  #vault: SecretVault;
  /**
   * Values already decrypted, by ciphertext (which a new value or key always changes): a
   * decryption costs ~50-100 µs (measured here), more than a warm isolate call; the row is still read on
   * every call, so a change made anywhere is seen at once.
   */
  #opened = new Map<string, string>();
  /**
   * Redactors by the values they hide: building one (the forms of each value, the patterns of
   * them all) takes ~1 ms for a PEM key, more than a warm call, and the same values run call
   * after call.
   */
  #redactors = new Map<string, Redactor>();

  constructor(store: SecretStore, vault: SecretVault) {
    this.#store = store;
    this.#vault = vault;
  }

  /**
   * Creates or replaces a secret. Resolves to `created: true` for a new name.
   * @throws FaasError VALIDATION for a bad name or a value that is not a non-empty string within
   *   MAX_SECRET_VALUE_BYTES (the message never holds the value)
   */
  async set(project: string, name: string, value: unknown): Promise<SecretSummary & { created: boolean }> {
    assertSecretName(name);
    if (typeof value !== 'string' || value.length === 0) {
      throw validation('value', 'must be a non-empty string');
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) {
      throw validation('value', `must be at most ${MAX_SECRET_VALUE_BYTES} bytes (UTF-8)`);
    }
    await this.#assertStoreKey();
    const [existing] = await this.#store.getSecrets(project, [name]);
    const now = new Date().toISOString();
    await this.#store.putSecret({
      project,
      name,
      ...this.#vault.seal(project, name, value),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
    return { name, createdAt: existing?.createdAt ?? now, updatedAt: now, created: !existing };
  }

  /**
   * @throws FaasError SECRET_KEY_MISMATCH when the store's secrets are kept under another key
   *   than this server's (another server of the store rotated it since this one started): a value
   *   written now would be one no other server reads.
   */
  async #assertStoreKey(): Promise<void> {
    const stored = await this.#store.getSetting(SECRET_KEY_SETTING);
    if (stored === undefined || stored === this.#vault.keyId) return;
    throw new FaasError(
      ErrorCode.SECRET_KEY_MISMATCH,
      `This server's FAAS_SECRET_KEY (key id ${this.#vault.keyId}) is not the key the store's secrets are kept under (key id ${stored}): restart it with that key`,
      { details: { keyId: this.#vault.keyId, storeKeyId: stored } },
    );
  }

  /**
   * Makes sure the store's secrets are kept under this server's key, at start. A store without a
   * key on record takes this one (the first of servers racing wins; one whose secrets are all
   * under another key has that key on record). The previous key on record is a rotation: its
   * secrets move to the current key, which goes on record (servers still on the old key then
   * refuse secret writes: SECRET_KEY_MISMATCH). Another key on record: with `shared` (a store
   * other servers use) the start fails; a store of this server's alone takes the new key (the
   * old one was lost or replaced: its secrets stay unreadable until set again).
   * @throws Error saying which keys differ and what to do
   */
  async checkStoreKey(options: { shared: boolean; warn: (message: string) => void }): Promise<{
    reencrypted: number;
    unreadable: string[];
  }> {
    const current = this.#vault.keyId;
    const previous = this.#vault.previousKeyId;
    let stored = await this.#store.getSetting(SECRET_KEY_SETTING);
    if (stored === undefined) {
      const kept = new Set((await this.#store.listSecrets()).map((s) => s.keyId));
      const known = kept.has(current) || (previous !== undefined && kept.has(previous));
      stored = await this.#store.claimSetting(
        SECRET_KEY_SETTING,
        known || kept.size === 0 ? current : ([...kept][0] as string),
      );
    }
    if (stored !== current && stored !== previous) {
      const message = `FAAS_SECRET_KEY (key id ${current}${previous ? `, previous ${previous}` : ''}) is not the key this store's secrets are kept under (key id ${stored})`;
      if (options.shared)
        throw new Error(
          `${message}: every server sharing a store must have the same FAAS_SECRET_KEY. To rotate it, start with the new key and FAAS_SECRET_KEY_PREVIOUS set to the old one. If the old key is lost, delete the setting "${SECRET_KEY_SETTING}" from the store's settings table (its secrets then have to be set again)`,
        );
      options.warn(
        `${message}: this server's store takes the new key; secrets under the old one must be set again`,
      );
    }
    const rotation = await this.reencryptStale();
    if (stored !== current) await this.#store.setSetting(SECRET_KEY_SETTING, current);
    return rotation;
  }

  async list(project: string): Promise<SecretSummary[]> {
    return (await this.#store.listSecrets(project)).map(({ name, createdAt, updatedAt }) => ({
      name,
      createdAt,
      updatedAt,
    }));
  }

  /** @throws FaasError SECRET_NOT_FOUND (another project's secret is as absent as an unknown one) */
  async delete(project: string, name: string): Promise<void> {
    if (!(await this.#store.deleteSecret(project, name))) {
      throw new FaasError(ErrorCode.SECRET_NOT_FOUND, `Secret "${name}" not found`, { details: { name } });
    }
  }

  /** @throws FaasError SECRET_MISSING naming the secrets the project does not have */
  async assertExist(project: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const found = new Set((await this.#store.getSecrets(project, names)).map((s) => s.name));
    const missing = names.filter((n) => !found.has(n));
    if (missing.length > 0) throw secretsMissing(missing);
  }

  /**
   * The version with each secret it names in its env (a secret wins over a plain env entry of the
   * same name), read and decrypted now: a changed value reaches the next call (runtimes do not
   * reuse a warm instance made with another env: runtimes/env-fingerprint.ts).
   * @throws FaasError SECRET_MISSING (deleted since the deploy), SECRET_UNREADABLE
   */
  async reveal(fn: FunctionVersion, project: string): Promise<RevealedVersion> {
    const names = fn.secrets ?? [];
    if (names.length === 0) return { fn, redact: redactorOf([]) };
    const stored = await this.#store.getSecrets(project, names);
    const byName = new Map(stored.map((s) => [s.name, s]));
    const missing = names.filter((n) => !byName.has(n));
    if (missing.length > 0) throw secretsMissing(missing);
    const env: Record<string, string> = { ...fn.env };
    const values: string[] = [];
    for (const name of names) {
      const value = this.#open(byName.get(name) as SecretRecord);
      env[name] = value;
      values.push(value);
    }
    return { fn: { ...fn, env }, redact: this.#redactorOf(values) };
  }

  #redactorOf(values: readonly string[]): Redactor {
    const key = JSON.stringify(values);
    let redact = this.#redactors.get(key);
    if (redact === undefined) {
      redact = redactorOf(values);
      if (this.#redactors.size >= MAX_REDACTORS) this.#redactors.clear();
      this.#redactors.set(key, redact);
    }
    return redact;
  }

  #open(secret: SecretRecord): string {
    const key = `${secret.project}\0${secret.name}\0${secret.ciphertext}`;
    let value = this.#opened.get(key);
    if (value === undefined) {
      value = this.#vault.open(secret);
      if (this.#opened.size >= MAX_OPENED) this.#opened.clear();
      this.#opened.set(key, value);
    }
    return value;
  }

  /**
   * Re-encrypts with the current key every secret still under another (the previous key, after a
   * rotation). One that neither key opens is left as it is and named in `unreadable` (the server
   * still starts: functions that need it answer SECRET_UNREADABLE, and it can be set again).
   * A secret set by another server since it was listed is not replaced (compare-and-set on the
   * ciphertext read) but listed again, up to REENCRYPT_PASSES times.
   */
  async reencryptStale(): Promise<{ reencrypted: number; unreadable: string[] }> {
    let reencrypted = 0;
    const unreadable = new Set<string>();
    for (let pass = 0; pass < REENCRYPT_PASSES; pass += 1) {
      let changedMeanwhile = false;
      for (const secret of await this.#store.listSecrets()) {
        const id = `${secret.project}/${secret.name}`;
        if (!this.#vault.isStale(secret) || unreadable.has(id)) continue;
        let value: string;
        try {
          value = this.#vault.open(secret);
        } catch {
          unreadable.add(id);
          continue;
        }
        const sealed = this.#vault.seal(secret.project, secret.name, value);
        if (
          await this.#store.replaceSecretCiphertext(secret.project, secret.name, secret.ciphertext, sealed)
        ) {
          reencrypted += 1;
        } else {
          changedMeanwhile = true;
        }
      }
      if (!changedMeanwhile) break;
    }
    return { reencrypted, unreadable: [...unreadable] };
  }
}

type SecretStore = Pick<
  MetadataStore,
  | 'putSecret'
  | 'replaceSecretCiphertext'
  | 'getSecrets'
  | 'listSecrets'
  | 'deleteSecret'
  | 'getSetting'
  | 'setSetting'
  | 'claimSetting'
>;

/** @throws FaasError VALIDATION unless `name` is an environment variable name */
export function assertSecretName(name: string, field = 'name'): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw validation(
      field,
      'must be an environment variable name: a letter or _, then letters, digits or _ (at most 128)',
    );
  }
}

function validation(field: string, message: string): FaasError {
  return new FaasError(ErrorCode.VALIDATION, `${field} ${message}`, { details: [{ field, message }] });
}

function secretsMissing(names: readonly string[]): FaasError {
  return new FaasError(
    ErrorCode.SECRET_MISSING,
    `The project has no secret named ${names.map((n) => `"${n}"`).join(', ')}: set it with PUT /api/v1/secrets/{name} first`,
    { details: { names } },
  );
}
