import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { SecretVault } from './secret-vault.ts';

/**
 * A stored ciphertext is bytes someone with the database may have altered: any text opens to the
 * value that was sealed (only when it is that ciphertext) or is refused with SECRET_UNREADABLE.
 */
describe('SecretVault.open (fuzz)', () => {
  it('opens only what it sealed, and refuses anything else with SECRET_UNREADABLE', async () => {
    const vault = new SecretVault(Buffer.alloc(32, 5));
    const sealed = vault.seal('p', 'TOKEN', 'fuzzed-secret-value');
    await fuzz({
      seeds: [Buffer.from(sealed.ciphertext), Buffer.from(sealed.ciphertext, 'base64'), Buffer.from('')],
      run(input) {
        const text = Buffer.from(input).toString('latin1');
        const value = vault.open({
          project: 'p',
          name: 'TOKEN',
          ciphertext: text,
          keyId: sealed.keyId,
          createdAt: '',
          updatedAt: '',
        });
        // GCM's tag: nothing but the sealed bytes (however base64 spells them) opens.
        assert.equal(value, 'fuzzed-secret-value');
        assert.deepEqual(Buffer.from(text, 'base64'), Buffer.from(sealed.ciphertext, 'base64'));
      },
      rejects: (err) => isFaasError(err) && err.code === ErrorCode.SECRET_UNREADABLE,
    });
  });
});
