/**
 * A project's secret as the store keeps it: the value only encrypted (AES-256-GCM), with the
 * project and name bound to it as associated data, so a row copied to another name or project
 * does not decrypt.
 */
export interface SecretRecord {
  project: string;
  name: string;
  /** `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, base64. */
  ciphertext: string;
  /** Which key encrypted it: the first 16 hex digits of the key's sha256 (never the key). */
  keyId: string;
  /** ISO 8601 UTC. */
  createdAt: string;
  /** When the value last changed (a re-encryption under a new key leaves it as it was). */
  updatedAt: string;
}

/** What the API shows of a secret: never its value. */
export interface SecretSummary {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * Secret names are environment variable names (the function sees each as one): a letter or `_`
 * first, then letters, digits and `_`, up to 128 characters.
 */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** The largest secret value, in UTF-8 bytes: a certificate or a key file fits, a blob does not. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

/** Secrets a function may reference. */
export const MAX_FUNCTION_SECRETS = 64;
