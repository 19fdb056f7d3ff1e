import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_FIELDS, loadConfig } from './config.ts';
import { isFaasError } from './errors.ts';

describe('loadConfig', () => {
  it('uses defaults, then environment, then flags', () => {
    assert.equal(loadConfig({}).port, 8080);
    assert.equal(loadConfig({ FAAS_PORT: '9000' }).port, 9000);
    assert.equal(loadConfig({ FAAS_PORT: '9000' }, { port: 7000 }).port, 7000);
    assert.equal(loadConfig({ FAAS_AUTH: 'false' }).auth, false);
    assert.equal(loadConfig({}, { auth: false }).auth, false);
  });

  it('reports every problem at once, unknown FAAS_ variables included', () => {
    try {
      loadConfig({ FAAS_PORT: 'x', FAAS_AUTH: 'maybe', FAAS_PROT: '1', OTHER: 'ignored' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(isFaasError(err));
      assert.deepEqual(
        (err.details as string[]).map((p) => p.split(':')[0]),
        ['FAAS_PROT', 'FAAS_PORT', 'FAAS_AUTH'],
      );
    }
  });

  it('returns a frozen object', () => {
    assert.ok(Object.isFrozen(loadConfig({})));
  });

  it('has every setting documented in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const missing = Object.values(CONFIG_FIELDS)
      .map((f) => f.env)
      .filter((env) => !doc.includes(`\`${env}\``));
    assert.deepEqual(missing, []);
  });
});
