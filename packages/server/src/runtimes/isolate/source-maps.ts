import { SourceMap } from 'node:module';

const INLINE_MAP = '\n//# sourceMappingURL=data:application/json;base64,';

/**
 * An artifact's code without the inline source map esbuild appended at deploy, and that map: the
 * isolate compiles only the code; the map turns stack frames back into the user's files and lines.
 */
export function splitSourceMap(source: string): { code: string; map: SourceMap | undefined } {
  const at = source.lastIndexOf(INLINE_MAP);
  if (at === -1) return { code: source, map: undefined };
  const code = source.slice(0, at + 1);
  try {
    const payload = JSON.parse(
      Buffer.from(source.slice(at + INLINE_MAP.length).trim(), 'base64').toString('utf8'),
    );
    return { code, map: new SourceMap(payload) };
  } catch {
    return { code, map: undefined };
  }
}

/**
 * A stack trace with the frames in the bundle (`file:///fn/index.js:LINE:COL`) pointing into the
 * source files instead (`file:///fn/src/api.ts:LINE:COL`). Frames it cannot map stay as they are.
 */
export function mapStack(stack: string, filename: string, map: SourceMap | undefined): string {
  if (!map || !stack.includes(filename)) return stack;
  // Sources are named from the code's root: `file:///<function>/`.
  const root = filename.slice(0, filename.indexOf('/', 'file:///'.length) + 1);
  const frame = new RegExp(`${escapeRegExp(filename)}:(\\d+):(\\d+)`, 'g');
  return stack.replace(frame, (whole, line: string, column: string) => {
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (entry.originalSource === undefined || entry.originalLine === undefined) return whole;
    return `${root}${sourcePath(entry.originalSource)}:${entry.originalLine + 1}:${(entry.originalColumn ?? 0) + 1}`;
  });
}

/** esbuild names sources by its namespace (`faas-files:src/api.ts`): the file's own path. */
function sourcePath(source: string): string {
  const colon = source.indexOf(':');
  return colon > 0 && !source.startsWith('file:') ? source.slice(colon + 1) : source;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
