import { build, transform } from 'esbuild';
import { compileError, compileProblem, isEsbuildFailure } from './compile-error.ts';
import type { SourceFiles } from './source-files.ts';
import { virtualFilesPlugin } from './virtual-files-plugin.ts';

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
 * from). Built as an ES module first so esbuild's metafile lists the entry's exports, then turned
 * into an iife; both steps reuse esbuild's long-lived service process.
 * @throws FaasError COMPILE_ERROR with `details` of `{ file, line, column, message, lineText }`.
 */
export async function buildIsolateArtifact(
  files: SourceFiles,
  entryPath: string,
  options: IsolateBuildOptions,
): Promise<Uint8Array> {
  const exportName = options.exportName ?? 'default';
  let esm: string;
  let exports: string[];
  try {
    const result = await build({
      entryPoints: [entryPath],
      outfile: OUTFILE,
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'neutral',
      target: TARGET,
      // An iife cannot await at its top level; refusing it here points at the source line.
      supported: { 'top-level-await': false },
      charset: 'utf8',
      tsconfigRaw: {},
      logLevel: 'silent',
      plugins: [virtualFilesPlugin(files, options.runtime)],
    });
    esm = result.outputFiles[0]?.text ?? '';
    exports = Object.values(result.metafile.outputs)[0]?.exports ?? [];
  } catch (err) {
    if (isEsbuildFailure(err)) throw compileError(err.errors, err);
    throw err;
  }
  if (!exports.includes(exportName)) {
    const has = exports.length > 0 ? `it exports ${exports.join(', ')}` : 'it has no exports';
    throw compileProblem({
      file: entryPath,
      message: `the handler's export "${exportName}" is missing (${has})`,
    });
  }
  try {
    const { code } = await transform(esm, {
      format: 'iife',
      globalName: '__faas',
      target: TARGET,
      charset: 'utf8',
      logLevel: 'silent',
    });
    return new TextEncoder().encode(code);
  } catch (err) {
    if (isEsbuildFailure(err)) throw compileError(err.errors, err);
    throw err;
  }
}
