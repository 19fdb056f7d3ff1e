import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FaasError, type SecretRecord } from '@faas/core';

/** The key file made on a first start without FAAS_SECRET_KEY, in the data dir. */
export const SECRET_KEY_FILE = 'secret.key';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface VaultKey {
  bytes: Buffer;
  /** First 16 hex digits of the key's sha256: tells keys apart without saying anything of them. */
  id: string;
}

/** What encrypting a value gives: the row's ciphertext and the key it was made with. */
export type Sealed = Pick<SecretRecord, 'ciphertext' | 'keyId'>;

/**
 * Encrypts and decrypts secret values with AES-256-GCM: a random 96-bit nonce per value, and the
 * project and name as associated data, so a ciphertext moved to another row does not decrypt.
 * Holds the current key and, during a rotation, the previous one: both decrypt, and the store's
 * key on record says which one encrypts (SecretService).
 */
export class SecretVault {
  #current: VaultKey;
  #previous: VaultKey | undefined;

  constructor(current: Uint8Array, previous?: Uint8Array) {
    this.#current = vaultKey(current);
    this.#previous = previous ? vaultKey(previous) : undefined;
  }

  /**
   * The vault of a configuration: FAAS_SECRET_KEY, else `secret.key` in the data dir, created
   * (mode 0600) when missing. Only the process that owns the data dir creates it (`create`);
   * gateway threads read the one it made.
   * @throws Error saying what is wrong with the key file (FAAS_SECRET_KEY is checked by loadConfig)
   */
  static open(
    config: { secretKey: string | undefined; secretKeyPrevious: string | undefined; dataDir: string },
    create = true,
  ): SecretVault {
    const previous = config.secretKeyPrevious === undefined ? undefined : decodeKey(config.secretKeyPrevious);
    if (config.secretKey !== undefined) return new SecretVault(decodeKey(config.secretKey), previous);
    return new SecretVault(keyFromFile(join(config.dataDir, SECRET_KEY_FILE), create), previous);
  }

  get keyId(): string {
    return this.#current.id;
  }

  /** The id of FAAS_SECRET_KEY_PREVIOUS, during a rotation. */
  get previousKeyId(): string | undefined {
    return this.#previous?.id;
  }

  /** Whether this vault holds the key of this id (the current or the previous one). */
  holds(keyId: string): boolean {
    return this.#key(keyId) !== undefined;
  }

  /** @param keyId the key to encrypt with, one this vault holds (`holds`); the current one by default */
  seal(project: string, name: string, value: string, keyId = this.#current.id): Sealed {
    const key = this.#key(keyId);
    if (!key) throw new Error(`this server holds no secret key of id ${keyId}`);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, nonce);
    cipher.setAAD(associatedData(project, name));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return {
      ciphertext: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64'),
      keyId: key.id,
    };
  }

  /**
   * @throws FaasError SECRET_UNREADABLE when neither key opens it (another key wrote it, or the
   *   row was altered or moved); the message names the secret, never a value.
   */
  open(secret: SecretRecord): string {
    const key = this.#key(secret.keyId);
    try {
      if (!key) throw new Error('unknown key');
      const raw = Buffer.from(secret.ciphertext, 'base64');
      if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, NONCE_BYTES));
      decipher.setAAD(associatedData(secret.project, secret.name));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new FaasError(
        ErrorCode.SECRET_UNREADABLE,
        `Secret "${secret.name}" does not decrypt with this server's secret key (key id ${this.#current.id}${this.#previous ? ` or previous ${this.#previous.id}` : ''}; it was written with key id ${secret.keyId})`,
        { details: { name: secret.name, keyId: secret.keyId } },
      );
    }
  }

  #key(id: string): VaultKey | undefined {
    return [this.#current, this.#previous].find((k) => k?.id === id);
  }

  /** Whether a stored secret is under another key than the current one (a rotation's work). */
  isStale(secret: SecretRecord): boolean {
    return secret.keyId !== this.#current.id;
  }
}

function vaultKey(bytes: Uint8Array): VaultKey {
  if (bytes.length !== 32) throw new Error('a secret key is 32 bytes');
  return { bytes: Buffer.from(bytes), id: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

/** A key as FAAS_SECRET_KEY or the key file hold it: 64 hex digits, or base64 of 32 bytes. */
function decodeKey(text: string): Buffer {
  const trimmed = text.trim();
  return /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
}

/** A JSON array, so (`ab`, `c`) and (`a`, `bc`) differ. */
function associatedData(project: string, name: string): Buffer {
  return Buffer.from(JSON.stringify(['faas-secret-v1', project, name]), 'utf8');
}

function keyFromFile(path: string, create: boolean): Buffer {
  if (create) {
    try {
      // `wx`: never replaces a key another start made (that would orphan every stored secret).
      writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = decodeKey(readFileSync(path, 'utf8'));
  if (key.length !== 32) {
    throw new Error(
      `${path} does not hold a 32-byte secret key (64 hex digits or base64): restore it from its backup`,
    );
  }
  return key;
}
