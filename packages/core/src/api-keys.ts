export type ApiKeyRole = 'admin' | 'user';

/** A stored API key: only its sha256 is kept, never the key. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /**
   * The project the key acts in. A platform admin key (`role: 'admin'`) acts in every project;
   * its own project is where what it makes goes unless the request names another.
   */
  project: string;
  role: ApiKeyRole;
  /** First characters of the key, to tell keys apart in listings. */
  prefix: string;
  hash: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}
