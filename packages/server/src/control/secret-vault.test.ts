import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError, type SecretRecord } from '@faas/core';
import { SECRET_KEY_FILE, SecretVault } from './secret-vault.ts';

const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);

function sealed(vault: SecretVault, project: string, name: string, value: string): SecretRecord {
  return { project, name, ...vault.seal(project, name, value), createdAt: 't', updatedAt: 't' };
}

describe('SecretVault', () => {
  it('opens what it sealed; each seal has its own nonce', () => {
    const vault = new SecretVault(KEY_A);
    const one = sealed(vault, 'p', 'DB', 'pässwörd');
    const two = sealed(vault, 'p', 'DB', 'pässwörd');
    assert.notEqual(one.ciphertext, two.ciphertext);
    assert.equal(vault.open(one), 'pässwörd');
    assert.equal(vault.open(two), 'pässwörd');
    assert.ok(!Buffer.from(one.ciphertext, 'base64').includes(Buffer.from('pässwörd')));
  });

  it('binds a value to its project and name: moved to another row, it does not open', () => {
    const vault = new SecretVault(KEY_A);
    const row = sealed(vault, 'team-a', 'TOKEN', 'value-of-a');
    for (const moved of [
      { ...row, project: 'team-b' },
      { ...row, name: 'OTHER' },
    ]) {
      assert.throws(
        () => vault.open(moved),
        (err) => isFaasError(err) && err.code === ErrorCode.SECRET_UNREADABLE,
      );
    }
  });

  it('refuses a value under another key or altered, naming the secret and never the value', () => {
    const row = sealed(new SecretVault(KEY_A), 'p', 'TOKEN', 'the-value');
    const flipped = Buffer.from(row.ciphertext, 'base64');
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    for (const bad of [
      row,
      { ...row, keyId: new SecretVault(KEY_B).keyId, ciphertext: row.ciphertext },
      { ...row, ciphertext: '' },
    ]) {
      assert.throws(
        () => new SecretVault(KEY_B).open(bad),
        (err) =>
          isFaasError(err) &&
          err.code === ErrorCode.SECRET_UNREADABLE &&
          err.message.includes('TOKEN') &&
          !err.message.includes('the-value'),
      );
    }
    assert.throws(() => new SecretVault(KEY_A).open({ ...row, ciphertext: flipped.toString('base64') }));
  });

  it('with the previous key, opens old values and tells them stale', () => {
    const old = sealed(new SecretVault(KEY_A), 'p', 'TOKEN', 'old-value');
    const rotated = new SecretVault(KEY_B, KEY_A);
    assert.equal(rotated.open(old), 'old-value');
    assert.equal(rotated.isStale(old), true);
    assert.equal(rotated.isStale(sealed(rotated, 'p', 'TOKEN', 'x')), false);
  });

  it('makes a key file with mode 0600 once, reads it after, and refuses one that is not a key', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'faas-vault-'));
    try {
      const settings = { secretKey: undefined, secretKeyPrevious: undefined, dataDir };
      assert.throws(() => SecretVault.open(settings, false), /ENOENT/);
      const first = SecretVault.open(settings);
      const path = join(dataDir, SECRET_KEY_FILE);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const text = readFileSync(path, 'utf8');
      const again = SecretVault.open(settings);
      assert.equal(readFileSync(path, 'utf8'), text, 'never replaced');
      assert.equal(again.keyId, first.keyId);
      assert.equal(again.open(sealed(first, 'p', 'N', 'v')), 'v');
      writeFileSync(path, 'not a key\n');
      assert.throws(() => SecretVault.open(settings), /does not hold a 32-byte secret key/);
      // FAAS_SECRET_KEY wins over the file.
      const configured = SecretVault.open({ ...settings, secretKey: KEY_A.toString('hex') });
      assert.equal(configured.keyId, new SecretVault(KEY_A).keyId);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
