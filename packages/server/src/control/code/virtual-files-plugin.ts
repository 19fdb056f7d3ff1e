import { posix } from 'node:path';
import type { Loader, OnResolveArgs, OnResolveResult, Plugin } from 'esbuild';
import type { SourceFiles } from './source-files.ts';

/** esbuild's namespace for the function's files; stripped again from error locations. */
export const FILES_NAMESPACE = 'faas';
/** esbuild's namespace for generated entry modules; their imports resolve from the code's root. */
const GENERATED_NAMESPACE = 'faas-generated';

const TS_FIRST = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs', '.json'];
const JS_FIRST = ['.js', '.mjs', '.cjs', '.jsx', '.json', '.ts', '.tsx', '.mts', '.cts'];
/** `./util.js` may name `util.ts`: TypeScript's own convention for ES module imports. */
const TS_FOR_JS: Record<string, string[]> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};

const LOADERS: Record<string, Loader> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
  '.json': 'json',
  '.txt': 'text',
  '.md': 'text',
  '.html': 'text',
  '.css': 'text',
  '.svg': 'text',
  '.csv': 'text',
  '.xml': 'text',
  '.sql': 'text',
  '.yaml': 'text',
  '.yml': 'text',
};

/**
 * Serves the function's files to esbuild from memory: the entry, and relative imports resolved
 * the way bundlers do (extensions, `index` files, `.js` naming `.ts`). Bare imports fail at the
 * import statement, since the isolate has neither npm packages nor Node's modules.
 */
export function virtualFilesPlugin(
  files: SourceFiles,
  runtime: 'js' | 'ts',
  /** Generated entry modules (path → source) that import the function's files. */
  generated: ReadonlyMap<string, string> = new Map(),
): Plugin {
  const extensions = runtime === 'ts' ? TS_FIRST : JS_FIRST;
  return {
    name: 'faas-virtual-files',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args): OnResolveResult => {
        if (args.kind === 'entry-point') {
          return {
            path: args.path,
            namespace: generated.has(args.path) ? GENERATED_NAMESPACE : FILES_NAMESPACE,
          };
        }
        if (isRelative(args.path)) return resolveRelative(files, args, extensions);
        return { errors: [{ text: bareImportMessage(args.path, runtime) }] };
      });
      build.onLoad({ filter: /.*/, namespace: GENERATED_NAMESPACE }, (args) => ({
        contents: generated.get(args.path) ?? '',
        loader: 'js',
      }));
      build.onLoad({ filter: /.*/, namespace: FILES_NAMESPACE }, (args) => {
        const contents = files.get(args.path);
        if (!contents) return { errors: [{ text: `No file ${args.path} in the code` }] };
        return { contents, loader: loaderFor(args.path) };
      });
    },
  };
}

/** The loader of a function's file, by its extension; unknown ones are bytes. */
export function loaderFor(path: string): Loader {
  return LOADERS[posix.extname(path)] ?? 'binary';
}

function isRelative(path: string): boolean {
  return path === '.' || path === '..' || path.startsWith('./') || path.startsWith('../');
}

function resolveRelative(files: SourceFiles, args: OnResolveArgs, extensions: string[]): OnResolveResult {
  const target = posix.normalize(posix.join(posix.dirname(args.importer), args.path));
  if (target === '..' || target.startsWith('../')) {
    return { errors: [{ text: `Cannot import "${args.path}": it leaves the function's code folder` }] };
  }
  const stem = target.replace(/\/$/, '');
  const ext = posix.extname(stem);
  const candidates = [
    stem,
    ...(TS_FOR_JS[ext] ?? []).map((ts) => stem.slice(0, -ext.length) + ts),
    ...extensions.map((e) => stem + e),
    ...extensions.map((e) => `${stem === '.' ? '' : `${stem}/`}index${e}`),
  ];
  const found = candidates.find((path) => files.has(path));
  if (found) return { path: found, namespace: FILES_NAMESPACE };
  return {
    errors: [
      { text: `Could not resolve "${args.path}": no file ${stem} (or with .ts/.js/index) in the code` },
    ],
  };
}

function bareImportMessage(path: string, runtime: 'js' | 'ts'): string {
  const what = path.startsWith('node:') || !/^[@a-z]/i.test(path) ? 'Node APIs' : 'npm packages or Node APIs';
  return (
    `Cannot import "${path}": the isolate runtime ("${runtime}") has no ${what}; only the function's own ` +
    'files can be imported. Use runtime "node" for npm packages and Node APIs'
  );
}
