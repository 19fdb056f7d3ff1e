import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, Script } from 'node:vm';
import { type CodeInput, ErrorCode, type FunctionRuntime } from '@faas/core';
import { jsFunctionVersion, MemoryBlobStore } from '@faas/testkit';
import { createIsolateRuntime } from '../../runtimes/isolate/isolate-runtime.ts';
import { extractArchive } from './canonical-archive.ts';
import { defaultFilename, type PrepareCodeOptions, prepareCode } from './prepare-code.ts';
import { base64, rejectsWith, text, zipOf } from './test-support.ts';

function setup(runtime: FunctionRuntime, handler = runtime === 'python' ? 'main.handler' : 'index.default') {
  const blobs = new MemoryBlobStore();
  const options: PrepareCodeOptions = { runtime, handler, blobs, maxBytes: 1024 * 1024 };
  return { blobs, options };
}

/** prepareCode, once its blobs are written. */
async function prepareStored(...args: Parameters<typeof prepareCode>) {
  const prepared = await prepareCode(...args);
  await prepared.stored;
  return prepared;
}

async function blobText(blobs: MemoryBlobStore, sha256: string): Promise<string> {
  const bytes = await blobs.get(sha256);
  assert.ok(bytes, `blob ${sha256} is stored`);
  return new TextDecoder().decode(bytes);
}

async function storedFiles(blobs: MemoryBlobStore, sha256: string): Promise<Record<string, string>> {
  const bytes = await blobs.get(sha256);
  assert.ok(bytes, `blob ${sha256} is stored`);
  return text(await extractArchive(bytes));
}

describe('prepareCode', () => {
  it('stores the source tar and a runnable bundle for ts', async () => {
    const { blobs, options } = setup('ts');
    const source = 'export default async (event: { n: number }): Promise<number> => event.n * 2;';
    const prepared = await prepareStored(source, options);
    assert.equal(prepared.entryPath, 'index.ts');
    assert.notEqual(prepared.artifactSha256, prepared.codeSha256);
    assert.deepEqual(await storedFiles(blobs, prepared.codeSha256), { 'index.ts': source });
    assert.equal(prepared.codeSizeBytes, (await blobs.get(prepared.codeSha256))?.byteLength);

    const context = createContext({});
    new Script(await blobText(blobs, prepared.artifactSha256)).runInContext(context);
    assert.equal(await context.__faas.default({ n: 21 }), 42);
  });

  it('answers once the names are known, with the blob writes under way; `stored` fails with a write', async () => {
    const { options } = setup('ts');
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const blobs = new MemoryBlobStore();
    const written: string[] = [];
    blobs.put = async (data) => {
      await held;
      const info = await MemoryBlobStore.prototype.put.call(blobs, data);
      written.push(info.sha256);
      return info;
    };
    const prepared = await prepareCode('export default () => 1', { ...options, blobs });
    assert.deepEqual(written, [], 'nothing written yet');
    assert.ok(prepared.artifact && new TextDecoder().decode(prepared.artifact).includes('__faas'));
    release();
    await prepared.stored;
    assert.deepEqual(written.sort(), [prepared.codeSha256, prepared.artifactSha256].sort());

    blobs.put = async () => {
      throw new Error('the disk went away');
    };
    const failing = await prepareCode('export default () => 2', { ...options, blobs });
    await assert.rejects(failing.stored, /the disk went away/);
  });

  it('gives the same hashes for the same files in another order', async () => {
    const { options } = setup('ts', 'src/api.handler');
    const files = {
      'src/api.ts': "import { x } from './x';\nexport const handler = () => x;",
      'src/x.ts': 'export const x = 1;',
      'README.md': '# api',
    };
    const reversed = Object.fromEntries(Object.entries(files).reverse());
    const named = async (input: Parameters<typeof prepareCode>[0]) => {
      const { stored, ...names } = await prepareCode(input, options);
      await stored;
      return names;
    };
    const a = await named({ files });
    assert.deepEqual(await named({ files: reversed }), a);
    assert.deepEqual(await named({ archive: base64(zipOf(reversed)) }), a);
  });

  it('builds a multi-file zip whose handler runs in the isolate runtime', async () => {
    const { blobs, options } = setup('ts', 'src/api.handler');
    const zip = zipOf({
      'src/api.ts': [
        "import { greet } from './lib/greet.js';",
        'export async function handler(event: { name: string }, context: { functionName: string }) {',
        '  return { message: greet(event.name), fn: context.functionName };',
        '}',
      ].join('\n'),
      'src/lib/greet.ts': 'export const greet = (name: string): string => `hello ${name}`;',
    });
    const prepared = await prepareStored({ archive: base64(zip) }, options);
    assert.equal(prepared.entryPath, 'src/api.ts');

    const runtime = createIsolateRuntime({ blobs });
    try {
      const fn = {
        ...jsFunctionVersion({ sha256: prepared.artifactSha256, sizeBytes: 0 }, { name: 'greeter' }),
        runtime: 'ts' as const,
        handler: 'src/api.handler',
        codeSha256: prepared.codeSha256,
      };
      const outcome = await runtime.invoke({
        invocationId: 'inv-1',
        fn,
        event: { name: 'ada' },
        deadline: Date.now() + 10_000,
        log: () => {},
      });
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
      assert.deepEqual(outcome.status === 'succeeded' && outcome.result, {
        message: 'hello ada',
        fn: 'greeter',
      });
    } finally {
      await runtime.close();
    }
  });

  it('stores node and python code as is: the artifact is the source tar', async () => {
    for (const [runtime, source, entry] of [
      ['node', "import _ from 'lodash';\nexport default () => _;", 'index.js'],
      ['python', 'def handler(event, context):\n    return event\n', 'main.py'],
    ] as const) {
      const { blobs, options } = setup(runtime);
      const prepared = await prepareStored(source, options);
      assert.equal(prepared.artifactSha256, prepared.codeSha256);
      assert.equal(prepared.entryPath, entry);
      assert.deepEqual(await storedFiles(blobs, prepared.codeSha256), { [entry]: source });
    }
  });

  it('gives an image function without code an empty archive', async () => {
    const { blobs, options } = setup('image');
    const prepared = await prepareStored(undefined, options);
    assert.equal(prepared.entryPath, undefined);
    assert.equal(prepared.artifactSha256, prepared.codeSha256);
    assert.deepEqual(await storedFiles(blobs, prepared.codeSha256), {});
    const withCode = await prepareStored({ files: { 'run.sh': 'echo hi' } }, options);
    assert.deepEqual(await storedFiles(blobs, withCode.codeSha256), { 'run.sh': 'echo hi' });
  });

  it("takes an image function's own download back (an empty tar), as a rollback sends it", async () => {
    const { blobs, options } = setup('image');
    const empty = await prepareStored(undefined, options);
    const download = await blobs.get(empty.codeSha256);
    assert.ok(download);
    const again = await prepareCode({ archive: base64(download), format: 'tar' }, options);
    assert.equal(again.codeSha256, empty.codeSha256);
    assert.equal((await prepareCode({ files: {} }, options)).codeSha256, empty.codeSha256);
    // Other runtimes still need a file.
    await rejectsWith(
      prepareCode({ archive: base64(download), format: 'tar' }, setup('node').options),
      ErrorCode.INVALID_ARCHIVE,
      /no files/,
    );
  });

  it('refuses absent code for other runtimes', async () => {
    const { options } = setup('node');
    await rejectsWith(prepareCode(undefined, options), ErrorCode.VALIDATION, /empty/);
  });

  it('stores nothing when the build fails or the handler file is missing', async () => {
    const { blobs, options } = setup('ts');
    const put = blobs.put.bind(blobs);
    let puts = 0;
    blobs.put = (data) => {
      puts++;
      return put(data);
    };
    await rejectsWith(prepareCode('export default (', options), ErrorCode.COMPILE_ERROR, /^index\.ts:1:/);
    await rejectsWith(
      prepareCode({ files: { 'main.ts': 'export default 1' } }, options),
      ErrorCode.VALIDATION,
      /tried index\.ts.*the code has main\.ts/,
    );
    assert.equal(puts, 0);
  });

  it('passes archive errors through', async () => {
    const { options } = setup('ts');
    await rejectsWith(
      prepareCode({ archive: '!!!' } as CodeInput, options),
      ErrorCode.INVALID_ARCHIVE,
      /base64/,
    );
  });
});

describe('defaultFilename', () => {
  it('names single-string code after the handler and runtime', () => {
    assert.equal(defaultFilename('js', 'index.default'), 'index.js');
    assert.equal(defaultFilename('ts', 'index.default'), 'index.ts');
    assert.equal(defaultFilename('node', 'index.default'), 'index.js');
    assert.equal(defaultFilename('python', 'main.handler'), 'main.py');
    assert.equal(defaultFilename('ts', 'app.run'), 'app.ts');
    assert.equal(defaultFilename('python', 'pkg.mod.handler'), 'pkg/mod.py');
    assert.equal(defaultFilename('js', 'index.mjs.default'), 'index.mjs');
  });
});
