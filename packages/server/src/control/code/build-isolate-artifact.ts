import { type BuildOptions, build } from 'esbuild';
import { compileError, compileProblem, isEsbuildFailure } from './compile-error.ts';
import { moduleExports } from './module-exports.ts';
import type { SourceFiles } from './source-files.ts';
import { loaderFor, virtualFilesPlugin } from './virtual-files-plugin.ts';

export interface IsolateBuildOptions {
  runtime: 'js' | 'ts';
  /** The export the handler names; the build fails when the entry lacks it. @default 'default' */
  exportName?: string;
}

/** The language level V8 in the isolate runs; newer syntax is lowered to it. */
const TARGET = 'es2023';
const OUTFILE = 'artifact.js';

/**
 * Bundles the entry and its relative imports, from memory, into a classic script that sets
 * `globalThis.__faas` to the entry's module namespace (what the isolate runtime binds handlers
 * from). Its builds reuse esbuild's long-lived service process: no process per deploy.
 * @throws FaasError COMPILE_ERROR with `details` of `{ file, line, column, message, lineText }`.
 */
export async function buildIsolateArtifact(
  files: SourceFiles,
  entryPath: string,
  options: IsolateBuildOptions,
): Promise<Uint8Array> {
  const exportName = options.exportName ?? 'default';
  const common = (entry: string, generated?: Map<string, string>): BuildOptions => ({
    ...entrySource(files, entry),
    outfile: OUTFILE,
    bundle: true,
    write: false,
    platform: 'neutral',
    target: TARGET,
    charset: 'utf8',
    tsconfigRaw: {},
    logLevel: 'silent',
    plugins: [virtualFilesPlugin(files, options.runtime, generated)],
  });
  // The inline source map goes with the artifact; the runtime strips it before compiling and uses
  // it to point stack traces at the user's files and lines.
  const iife = (entry: string, generated?: Map<string, string>) =>
    build({
      ...common(entry, generated),
      format: 'iife',
      globalName: '__faas',
      sourcemap: 'inline',
      sourcesContent: false,
      metafile: true,
    });
  const esm = () =>
    build({ ...common(entryPath), format: 'esm', metafile: true, supported: { 'top-level-await': false } });

  // esbuild lists an output's exports only for ES modules, so unless the entry's own statements
  // tell them, the same input is also built as one, concurrently, for its metafile; the iife is
  // the artifact. (Turning that ES module into an iife instead would add esbuild's `require`
  // shim, which the function could see.)
  const declared = ownExports(files, entryPath);
  const [script, module] = await Promise.allSettled([iife(entryPath), declared ? undefined : esm()]);
  // The ES module build's errors come first: it words top-level await in terms of the source.
  if (module.status === 'rejected') throw asCompileError(module.reason);
  if (script.status === 'rejected') {
    // Without the ES module build beside it, it runs now: its errors are the ones worded for the source.
    const worded = declared ? await esm().catch((err: unknown) => err) : undefined;
    throw asCompileError(worded instanceof Error ? worded : script.reason);
  }
  const entryInput = Object.values(script.value.metafile.inputs)[0];
  const exports = declared ?? Object.values(module.value?.metafile.outputs ?? {})[0]?.exports ?? [];

  if (entryInput?.format === 'cjs') {
    // An iife of a CommonJS entry would be `module.exports` itself; wrapping it gives what Node's
    // `import * as` does: `default` is `module.exports`, its properties are named exports too.
    // Those names are only known when the code runs, so the handler's export is checked then.
    const spec = JSON.stringify(`./${entryPath}`);
    const wrapper = `import entry from ${spec};\nexport * from ${spec};\nexport default entry;\n`;
    try {
      const wrapped = await iife(CJS_WRAPPER, new Map([[CJS_WRAPPER, wrapper]]));
      return encode(wrapped.outputFiles?.[0]?.text);
    } catch (err) {
      throw asCompileError(err);
    }
  }
  if (!exports.includes(exportName)) {
    const has = exports.length > 0 ? `it exports ${exports.join(', ')}` : 'it has no exports';
    throw compileProblem({
      file: entryPath,
      message: `the handler's export "${exportName}" is missing (${has})`,
    });
  }
  return encode(script.value.outputFiles?.[0]?.text);
}

const CJS_WRAPPER = '<commonjs-entry>';

/**
 * How the entry reaches esbuild. An entry that imports no file of its own goes in as `stdin`:
 * each file the plugin serves costs two round trips to esbuild's process per build (resolve,
 * load), and these were ~40% of a small deploy's build (two builds, 8.9 → 5.1 ms side by side).
 * An entry with a relative import keeps the plugin's path, so a file importing the entry gets the
 * same module, not a second copy. The file name is the same either way (esbuild names a plugin's
 * file `faas:index.js`; compile errors and source maps strip the namespace), except for a name
 * with a colon, which also keeps the plugin's path.
 */
function entrySource(files: SourceFiles, entry: string): Pick<BuildOptions, 'entryPoints' | 'stdin'> {
  const contents = files.get(entry);
  if (!contents || entry.includes(':') || mayImportRelative(contents)) return { entryPoints: [entry] };
  return { stdin: { contents, sourcefile: entry, loader: loaderFor(entry) } };
}

/**
 * Whether the code may name a relative module: a quote followed by `./`, `../`, or `.`/`..` and
 * the closing quote. Over-inclusive (comments, plain strings) on purpose: a false hit only
 * takes the plugin's path.
 */
function mayImportRelative(contents: Uint8Array): boolean {
  const text = Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength).toString('latin1');
  return /(['"`])\.{1,2}(\/|\1)/.test(text);
}

/**
 * The entry's exports from its own statements, when they are all there is to know: a JavaScript
 * entry that goes in as `stdin` imports no file of its own. Else undefined (TypeScript, JSX, an
 * entry with relative imports, a syntax the parser does not take).
 */
function ownExports(files: SourceFiles, entry: string): string[] | undefined {
  const contents = files.get(entry);
  if (!contents || entrySource(files, entry).stdin?.loader !== 'js') return undefined;
  return moduleExports(
    Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength).toString('utf8'),
  );
}

function encode(text: string | undefined): Uint8Array {
  if (text === undefined) throw new Error('esbuild produced no output');
  return new TextEncoder().encode(text);
}

function asCompileError(err: unknown): unknown {
  return isEsbuildFailure(err) ? compileError(err.errors, err) : err;
}
