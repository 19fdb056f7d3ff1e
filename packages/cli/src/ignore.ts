/**
 * Ignore files: `.faasignore` (gitignore syntax) and `.dockerignore` (Docker's syntax), and the
 * list of files `faas deploy` never packs unless told to. Written here, not taken from a package,
 * because the two syntaxes differ and the common subset is small.
 */

/** Which file's rules: they differ in anchoring and in what a `!` can bring back. */
export type IgnoreSyntax = 'gitignore' | 'dockerignore';

export interface IgnoreRule {
  /** The line as written (for messages). */
  pattern: string;
  /** Where the rule came from: `default`, `.faasignore`, `.dockerignore`. */
  source: string;
  /** A `!` line: it keeps what earlier lines left out. */
  negate: boolean;
  /** A trailing `/`: it matches folders only. */
  dirOnly: boolean;
  regex: RegExp;
}

/** What left a path out: the rule, and the path it matched (the path or a folder above it). */
export interface IgnoreMatch {
  rule: IgnoreRule;
  at: string;
}

/**
 * What `faas deploy` leaves out of every function's code and image build context: secrets
 * (anyone with read access to a function can download its code) and caches that are not the
 * function's. A `.faasignore` line `!name` keeps one. `.env.example` and `.env.sample` are packed:
 * by convention they hold placeholders, and code reads them to learn which variables it needs.
 */
export const DEFAULT_IGNORE = `
.env
.env.*
!.env.example
!.env.sample
.envrc
*.pem
*.key
*.p12
*.pfx
id_rsa*
id_dsa*
id_ecdsa*
id_ed25519*
.npmrc
.yarnrc
.yarnrc.yml
.pypirc
.netrc
.git-credentials
.vault-token
.aws/
.ssh/
.gnupg/
.kube/
.docker/config.json
*.tfstate
*.tfstate.*
.terraform/
__pycache__/
*.py[cod]
.pytest_cache/
.mypy_cache/
.ruff_cache/
.venv/
.DS_Store
Thumbs.db
`;

/** The rules of one ignore file, in order; the last rule that matches a path decides. */
export class IgnoreList {
  readonly syntax: IgnoreSyntax;
  readonly rules: IgnoreRule[];

  constructor(syntax: IgnoreSyntax, rules: IgnoreRule[] = []) {
    this.syntax = syntax;
    this.rules = rules;
  }

  /** Adds the lines of an ignore file. */
  add(text: string, source: string): this {
    for (const line of text.split(/\r?\n/)) {
      const rule = compileRule(line, source, this.syntax);
      if (rule) this.rules.push(rule);
    }
    return this;
  }

  /** Whether a `!` rule can bring back a path inside a left-out folder (so the walk looks inside). */
  get reachesIntoIgnoredFolders(): boolean {
    return this.syntax === 'dockerignore' && this.rules.some((r) => r.negate);
  }

  /**
   * The rule that leaves `path` (relative, `/`-separated) out, or undefined when it is kept.
   * gitignore: a path inside a left-out folder stays out whatever follows, as in git. Docker: the
   * last rule that matches the path or a folder above it decides, as `docker build` does.
   */
  ignores(path: string, isDir: boolean): IgnoreMatch | undefined {
    const parts = path.split('/');
    if (this.syntax === 'gitignore') {
      for (let i = 1; i < parts.length; i++) {
        const folder = parts.slice(0, i).join('/');
        const rule = this.#last(folder, true);
        if (rule && !rule.negate) return { rule, at: folder };
      }
      const rule = this.#last(path, isDir);
      return rule && !rule.negate ? { rule, at: path } : undefined;
    }
    let found: IgnoreMatch | undefined;
    for (const rule of this.rules) {
      for (let i = 1; i <= parts.length; i++) {
        const at = parts.slice(0, i).join('/');
        if (rule.regex.test(at)) {
          found = rule.negate ? undefined : { rule, at };
          break;
        }
      }
    }
    return found;
  }

  #last(path: string, isDir: boolean): IgnoreRule | undefined {
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i] as IgnoreRule;
      if ((isDir || !rule.dirOnly) && rule.regex.test(path)) return rule;
    }
    return undefined;
  }
}

/** One line as a rule; undefined for blank lines and comments. */
export function compileRule(line: string, source: string, syntax: IgnoreSyntax): IgnoreRule | undefined {
  // gitignore keeps leading spaces and an escaped trailing one; Docker trims both ends.
  let text = syntax === 'gitignore' ? line.replace(/(?<!\\)\s+$/, '') : line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const negate = text.startsWith('!');
  if (negate) text = text.slice(1);
  let dirOnly = false;
  let anchored: boolean;
  if (syntax === 'gitignore') {
    if (text.endsWith('/') && !text.endsWith('\\/')) {
      dirOnly = true;
      text = text.replace(/\/+$/, '');
    }
    // A slash anywhere but the end anchors the pattern to the folder the file is in.
    anchored = text.includes('/');
    text = text.replace(/^\/+/, '');
  } else {
    // Docker cleans the pattern as a path and always matches from the context's root.
    anchored = true;
    text = text
      .split('/')
      .filter((s) => s !== '' && s !== '.')
      .join('/');
  }
  if (text === '') return undefined;
  const body = globToRegex(text);
  return {
    pattern: line.trim(),
    source,
    negate,
    dirOnly,
    regex: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${body}$`),
  };
}

/** `*` and `?` stay within one path segment, `**` spans segments, `[a-z]` is a class, `\x` is x. */
function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*') {
      if (glob[i + 1] !== '*') {
        out += '[^/]*';
        continue;
      }
      const atStart = i === 0 || glob[i - 1] === '/';
      i++;
      if (atStart && glob[i + 1] === '/') {
        // `**/`: any number of folders, none included.
        out += '(?:.*/)?';
        i++;
      } else if (atStart && i === glob.length - 1) {
        // A trailing `/**`: everything inside.
        out += '.*';
      } else {
        out += '[^/]*';
      }
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      const not = cls.startsWith('!') || cls.startsWith('^');
      if (not) cls = cls.slice(1);
      out += `[${not ? '^/' : ''}${cls.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (ch === '\\' && i + 1 < glob.length) {
      i++;
      out += escapeRegex(glob[i] as string);
    } else {
      out += escapeRegex(ch);
    }
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
