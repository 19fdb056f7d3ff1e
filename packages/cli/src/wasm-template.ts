// The `faas init --runtime wasm` template: a WAT source, the module built from it, a test that
// runs the module with node:wasi as the platform does. WASM_TEMPLATE_MODULE is generated:
// `wat2wasm main.wat` of WASM_TEMPLATE_WAT, base64 (the CLI cannot expect wabt on the user's
// machine); wasm-template.test.ts rebuilds it and fails when it differs.

export const WASM_TEMPLATE_WAT = `;; A WASI command (docs/runtimes/wasm.md in the faas repository): the event arrives on stdin as
;; JSON, the result leaves on stdout, log lines go to stderr. This one answers
;; {"message":"Hello, <name>!"} for the first "name":"…" in the event (a JSON body's name, or a
;; route's :name parameter), "world" without one. Rebuild main.wasm after a change:
;;   wat2wasm main.wat -o main.wasm        (Debian/Ubuntu: apt-get install wabt)
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "\\22name\\22:\\22")
  (data (i32.const 120) "{\\22message\\22:\\22Hello, ")
  (data (i32.const 150) "!\\22}")
  (data (i32.const 160) "greeting ")
  (data (i32.const 170) "\\0a")
  (data (i32.const 180) "world")

  ;; Reads all of stdin to 1024 and on (up to the end of the memory); returns its length.
  (func $read_stdin (result i32)
    (local $end i32)
    (local.set $end (i32.const 1024))
    (block $done
      (loop $more
        (i32.store (i32.const 0) (local.get $end))
        (i32.store (i32.const 4) (i32.sub (i32.const 131072) (local.get $end)))
        (br_if $done (i32.eqz (i32.load (i32.const 4))))
        (i32.store (i32.const 44) (i32.const 0))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 44)))
        (br_if $done (i32.eqz (i32.load (i32.const 44))))
        (local.set $end (i32.add (local.get $end) (i32.load (i32.const 44))))
        (br $more)))
    (i32.sub (local.get $end) (i32.const 1024)))

  ;; Where the first "name":" starts in the event, or -1.
  (func $find (param $len i32) (result i32)
    (local $i i32)
    (local $j i32)
    (block $none
      (loop $at
        (br_if $none (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $compare
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (i32.const 1024) (i32.add (local.get $i) (local.get $j))))
                (i32.load8_u (i32.add (i32.const 100) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $compare (i32.lt_u (local.get $j) (i32.const 8)))
            (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $at)))
    (i32.const -1))

  ;; Writes three pieces to a descriptor in one call.
  (func $write3 (param $fd i32) (param $a i32) (param $alen i32) (param $b i32) (param $blen i32)
    (param $c i32) (param $clen i32)
    (i32.store (i32.const 0) (local.get $a))
    (i32.store (i32.const 4) (local.get $alen))
    (i32.store (i32.const 8) (local.get $b))
    (i32.store (i32.const 12) (local.get $blen))
    (i32.store (i32.const 16) (local.get $c))
    (i32.store (i32.const 20) (local.get $clen))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 3) (i32.const 40))))

  (func (export "_start")
    (local $len i32)
    (local $at i32)
    (local $name i32)
    (local $nameLen i32)
    (local.set $len (call $read_stdin))
    (local.set $at (call $find (local.get $len)))
    (if (i32.ge_s (local.get $at) (i32.const 0))
      (then
        ;; The name's bytes up to its closing quote (or a backslash: escapes are not decoded).
        (local.set $name (i32.add (i32.const 1032) (local.get $at)))
        (block $end
          (loop $scan
            (br_if $end
              (i32.ge_u (i32.add (i32.add (local.get $at) (i32.const 8)) (local.get $nameLen)) (local.get $len)))
            (br_if $end (i32.eq (i32.load8_u (i32.add (local.get $name) (local.get $nameLen))) (i32.const 34)))
            (br_if $end (i32.eq (i32.load8_u (i32.add (local.get $name) (local.get $nameLen))) (i32.const 92)))
            (local.set $nameLen (i32.add (local.get $nameLen) (i32.const 1)))
            (br $scan)))))
    (if (i32.eqz (local.get $nameLen))
      (then
        (local.set $name (i32.const 180))
        (local.set $nameLen (i32.const 5))))
    (call $write3 (i32.const 2) (i32.const 160) (i32.const 9) (local.get $name) (local.get $nameLen)
      (i32.const 170) (i32.const 1))
    (call $write3 (i32.const 1) (i32.const 120) (i32.const 19) (local.get $name) (local.get $nameLen)
      (i32.const 150) (i32.const 3))))
`;

export const WASM_TEMPLATE_TEST = `import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WASI } from 'node:wasi';

const module = await WebAssembly.compile(readFileSync(new URL('./main.wasm', import.meta.url)));

/** Runs main.wasm as the platform does: the event as JSON on stdin, the result from stdout. */
async function run(event) {
  const dir = mkdtempSync(join(tmpdir(), 'faas-wasm-test-'));
  const path = (name) => join(dir, name);
  writeFileSync(path('stdin'), JSON.stringify(event));
  const stdio = [openSync(path('stdin'), 'r'), openSync(path('stdout'), 'w'), openSync(path('stderr'), 'w')];
  try {
    const [stdin, stdout, stderr] = stdio;
    const wasi = new WASI({ version: 'preview1', args: ['test'], env: {}, stdin, stdout, stderr, returnOnExit: true });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    assert.equal(wasi.start(instance) ?? 0, 0, 'exit code');
    return { result: JSON.parse(readFileSync(path('stdout'), 'utf8')), logs: readFileSync(path('stderr'), 'utf8') };
  } finally {
    for (const fd of stdio) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('greets by name, and logs it', async () => {
  assert.deepEqual(await run({ name: 'Ada' }), { result: { message: 'Hello, Ada!' }, logs: 'greeting Ada\\n' });
});

test('greets the name of a route', async () => {
  const event = { method: 'GET', path: '/hello/Bob', params: { name: 'Bob' }, query: {}, headers: {} };
  assert.deepEqual((await run(event)).result, { message: 'Hello, Bob!' });
});

test('greets the world without a name', async () => {
  assert.deepEqual((await run({})).result, { message: 'Hello, world!' });
});
`;

/** main.wasm: wat2wasm of WASM_TEMPLATE_WAT (wabt 1.0.32), base64. */
export const WASM_TEMPLATE_MODULE = Buffer.from(
  [
    'AGFzbQEAAAABHwVgBH9/f38Bf2AAAX9gAX8Bf2AHf39/f39/fwBgAAACRAIWd2FzaV9zbmFwc2hvdF9wcmV2aWV3MQdmZF9y',
    'ZWFkAAAWd2FzaV9zbmFwc2hvdF9wcmV2aWV3MQhmZF93cml0ZQAAAwUEAQIDBAUDAQACBxMCBm1lbW9yeQIABl9zdGFydAAF',
    'Cu4CBFcBAX9BgAghAAJAA0BBACAANgIAQQRBgIAIIABrNgIAQQQoAgBFDQFBLEEANgIAQQBBAEEBQSwQAA0BQSwoAgBFDQEg',
    'AEEsKAIAaiEADAALCyAAQYAIawtSAQJ/AkADQCABQQhqIABLDQFBACECAkADQEGACCABIAJqai0AAEHkACACai0AAEcNASAC',
    'QQFqIQIgAkEISQ0AIAEPCwsgAUEBaiEBDAALC0F/CzcAQQAgATYCAEEEIAI2AgBBCCADNgIAQQwgBDYCAEEQIAU2AgBBFCAG',
    'NgIAIABBAEEDQSgQARoLiAEBBH8QAiEAIAAQAyEBIAFBAE4EQEGICCABaiECAkADQCABQQhqIANqIABPDQEgAiADai0AAEEi',
    'Rg0BIAIgA2otAABB3ABGDQEgA0EBaiEDDAALCwsgA0UEQEG0ASECQQUhAwtBAkGgAUEJIAIgA0GqAUEBEARBAUH4AEETIAIg',
    'A0GWAUEDEAQLC1IGAEHkAAsIIm5hbWUiOiIAQfgACxN7Im1lc3NhZ2UiOiJIZWxsbywgAEGWAQsDISJ9AEGgAQsJZ3JlZXRp',
    'bmcgAEGqAQsBCgBBtAELBXdvcmxk',
  ].join(''),
  'base64',
);
