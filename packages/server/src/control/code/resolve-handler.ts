import { ErrorCode, FaasError, type FunctionRuntime } from '@faas/core';
import type { SourceFiles } from './source-files.ts';

/** Extensions tried, in order, for a handler's file part. */
export const HANDLER_EXTENSIONS: Record<Exclude<FunctionRuntime, 'image'>, readonly string[]> = {
  ts: ['.ts', '.tsx', '.mts', '.js', '.mjs'],
  js: ['.js', '.mjs', '.cjs'],
  node: ['.js', '.mjs', '.cjs', '.ts'],
  python: ['.py'],
  wasm: ['.wasm'],
  go: ['.go'],
};

export interface ResolvedHandler {
  /** The entry file, a key of the files. */
  entryPath: string;
  /** The export (or Python attribute) named after the handler's last dot. */
  exportName: string;
}

/** How many existing files an error lists before "and N more". */
const LISTED_FILES = 10;

/**
 * Finds the file a handler (`file.export`) names: the export follows the last dot, the file is
 * the rest with the runtime's extensions tried in order. Python also accepts dotted module paths
 * (`pkg.module.handler` → `pkg/module.py` or `pkg/module/__init__.py`), as its agent imports them.
 * @throws FaasError VALIDATION (field `handler`) listing the files that do exist.
 */
export function resolveHandler(
  files: SourceFiles,
  handler: string,
  runtime: Exclude<FunctionRuntime, 'image'>,
): ResolvedHandler {
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1) {
    throw problem(`handler "${handler}" must be "file.export", e.g. "index.default" or "src/api.handler"`);
  }
  const file = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  const candidates = candidatePaths(file, runtime);
  const entryPath = candidates.find((path) => files.has(path));
  if (entryPath) return { entryPath, exportName };

  const existing = [...files.keys()].sort();
  const listed = existing.slice(0, LISTED_FILES).join(', ');
  const more = existing.length > LISTED_FILES ? ` and ${existing.length - LISTED_FILES} more` : '';
  throw problem(
    `handler "${handler}" names a file that is not in the code: tried ${candidates.join(', ')}; ` +
      `the code has ${listed}${more}`,
  );
}

function candidatePaths(file: string, runtime: Exclude<FunctionRuntime, 'image'>): string[] {
  const extensions = HANDLER_EXTENSIONS[runtime];
  const stems = [file];
  if (runtime === 'python' && file.includes('.')) stems.push(file.replaceAll('.', '/'));
  const paths = stems.flatMap((stem) => extensions.map((ext) => `${stem}${ext}`));
  // A handler that already names the extension (`index.mjs.default`) is taken as written.
  if (extensions.some((ext) => file.endsWith(ext))) paths.unshift(file);
  if (runtime === 'python') paths.push(...stems.map((stem) => `${stem}/__init__.py`));
  return [...new Set(paths)];
}

function problem(message: string): FaasError {
  return new FaasError(ErrorCode.VALIDATION, `Invalid function: ${message}`, {
    details: [{ field: 'handler', message }],
  });
}
