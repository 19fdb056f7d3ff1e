import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  MAX_SECRET_VALUE_BYTES,
  type MetadataStore,
  NUL_MESSAGE,
  SECRET_NAME_PATTERN,
  type SecretRecord,
  type SecretSummary,
} from '@faas/core';
import { envWithSecretsTooLarge } from './function-config.ts';
import { type Redactor, redactorOf } from './secret-redactor.ts';
import type { SecretVault } from './secret-vault.ts';

/**
 * The store's setting that names the key its secrets are kept under (its id: the first 16 hex
 * digits of its sha256, as every secret row already holds), and so the key every server writes
 * with: servers sharing a store must hold that key, and this is how one that does not finds out.
 * A rotation moves it to the new key only when asked (`rotate`), once every server holds both.
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

/** What a re-encryption did. */
export interface Reencryption {
  /** Secrets moved to the current key. */
  reencrypted: number;
  /** `project/name` of the secrets no key of this server opens (left as they are). */
  unreadable: string[];
}

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
   *   MAX_SECRET_VALUE_BYTES, or holds a NUL byte (the message never holds the value)
   */
  async set(project: string, name: string, value: unknown): Promise<SecretSummary & { created: boolean }> {
    assertSecretName(name);
    if (typeof value !== 'string' || value.length === 0) {
      throw validation('value', 'must be a non-empty string');
    }
    // A secret is seen as an env value, which exec ends at a NUL: no function would get it whole.
    if (value.includes('\0')) throw validation('value', NUL_MESSAGE);
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) {
      throw validation('value', `must be at most ${MAX_SECRET_VALUE_BYTES} bytes (UTF-8)`);
    }
    const keyId = await this.#writeKeyId();
    const [existing] = await this.#store.getSecrets(project, [name]);
    const now = new Date().toISOString();
    await this.#store.putSecret({
      project,
      name,
      ...this.#vault.seal(project, name, value, keyId),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
    return { name, createdAt: existing?.createdAt ?? now, updatedAt: now, created: !existing };
  }

  /**
   * The key a value is written with: the store's, read now (so every server writes with the key
   * all of them hold, also while some are restarted with a new one), which this server may hold
   * as its previous key.
   * @throws FaasError SECRET_KEY_MISMATCH when this server does not hold the store's key (it was
   *   rotated to one this server was not given): a value written now would be one no other
   *   server reads.
   */
  async #writeKeyId(): Promise<string> {
    const stored = await this.#store.getSetting(SECRET_KEY_SETTING);
    if (stored === undefined) return this.#vault.keyId;
    if (this.#vault.holds(stored)) return stored;
    throw new FaasError(
      ErrorCode.SECRET_KEY_MISMATCH,
      `This server's FAAS_SECRET_KEY (key id ${this.#vault.keyId}${this.#vault.previousKeyId ? `, previous ${this.#vault.previousKeyId}` : ''}) is not the key the store's secrets are kept under (key id ${stored}): restart it with that key`,
      { details: { keyId: this.#vault.keyId, storeKeyId: stored } },
    );
  }

  /**
   * Makes sure this server holds the key the store's secrets are kept under, at start. A store
   * without a key on record takes the one its secrets are under (the first of servers racing
   * wins), this server's for an empty store. The previous key on record is a rotation under way:
   * on a store of this server's alone it is finished now (`rotate`); on one other servers share
   * (`shared`) it waits for `faas secrets rotate`, since servers not yet restarted hold only the
   * old key, and this one writes with the old key meanwhile. Another key on record: with `shared`
   * the start fails; a store of this server's alone takes the new key (the old one was lost or
   * replaced: its secrets stay unreadable until set again).
   * @throws Error saying which keys differ and what to do
   */
  async checkStoreKey(options: { shared: boolean; warn: (message: string) => void }): Promise<
    Reencryption & {
      /** The store is still on the previous key: a rotation waits for `faas secrets rotate`. */
      pending: boolean;
    }
  > {
    const current = this.#vault.keyId;
    const previous = this.#vault.previousKeyId;
    let stored = await this.#store.getSetting(SECRET_KEY_SETTING);
    if (stored === undefined) {
      const kept = new Set((await this.#store.listSecrets()).map((s) => s.keyId));
      let claim = [...kept][0] ?? current;
      if (kept.has(current)) claim = current;
      else if (previous !== undefined && kept.has(previous)) claim = previous;
      stored = await this.#store.claimSetting(SECRET_KEY_SETTING, claim);
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
    if (!options.shared) return { ...(await this.#moveStore(stored)), pending: false };
    if (stored !== current) return { reencrypted: 0, unreadable: [], pending: true };
    // The store is on this key, so every server holds it: what a rotation left under the
    // previous one (a value written with it as the rotation began) can move now.
    return { ...(await this.reencryptStale()), pending: false };
  }

  /**
   * Moves the store to this server's key: it goes on record, so every server writes with it from
   * then on, then every secret under the previous key is re-encrypted (`reencryptStale`). Run
   * once every server sharing the store holds the new key (as FAAS_SECRET_KEY, the old one as
   * FAAS_SECRET_KEY_PREVIOUS): one that holds only the old key reads none of them afterwards.
   * Running it again moves what is left (nothing, when it reports 0).
   * @throws FaasError SECRET_KEY_MISMATCH when the store's key is neither of this server's
   */
  async rotate(): Promise<Reencryption> {
    const stored = await this.#store.getSetting(SECRET_KEY_SETTING);
    if (stored !== undefined && !this.#vault.holds(stored)) {
      throw new FaasError(
        ErrorCode.SECRET_KEY_MISMATCH,
        `The store's secrets are kept under key id ${stored}, neither FAAS_SECRET_KEY (key id ${this.#vault.keyId}) nor FAAS_SECRET_KEY_PREVIOUS${this.#vault.previousKeyId ? ` (key id ${this.#vault.previousKeyId})` : ''}: give the store's key as FAAS_SECRET_KEY_PREVIOUS`,
        { details: { keyId: this.#vault.keyId, storeKeyId: stored } },
      );
    }
    return this.#moveStore(stored);
  }

  async #moveStore(stored: string | undefined): Promise<Reencryption> {
    // On record first: a value set from now on is under the new key, so the list to re-encrypt
    // only shrinks.
    if (stored !== this.#vault.keyId) await this.#store.setSetting(SECRET_KEY_SETTING, this.#vault.keyId);
    return this.reencryptStale();
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
   * @throws FaasError SECRET_MISSING (deleted since the deploy), SECRET_UNREADABLE, VALIDATION
   *   (the values take the env past FUNCTION_LIMITS.env.totalBytes)
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
    // A container's process could not start with more (exec's limit), at every call.
    const tooLarge = envWithSecretsTooLarge(env);
    if (tooLarge) throw tooLarge;
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
  async reencryptStale(): Promise<Reencryption> {
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
