import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { wabtMissing } from '@faas/testkit';
import { WASM_TEMPLATE_MODULE, WASM_TEMPLATE_WAT } from './wasm-template.ts';

describe('the wasm init template', () => {
  it('ships the module wat2wasm builds from its WAT source', { skip: wabtMissing() }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'faas-wasm-template-'));
    try {
      writeFileSync(join(dir, 'main.wat'), WASM_TEMPLATE_WAT);
      const built = spawnSync('wat2wasm', [join(dir, 'main.wat'), '-o', join(dir, 'main.wasm')], {
        encoding: 'utf8',
      });
      assert.equal(built.status, 0, built.stderr);
      assert.deepEqual(
        new Uint8Array(readFileSync(join(dir, 'main.wasm'))),
        new Uint8Array(WASM_TEMPLATE_MODULE),
        'WASM_TEMPLATE_MODULE is stale: regenerate it from main.wat (see the header of wasm-template.ts)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
