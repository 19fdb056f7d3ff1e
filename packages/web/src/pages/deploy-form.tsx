import { useRef, useState } from 'preact/hooks';
import { ApiError, type CompileDetail, call, type FunctionRecord } from '../api.ts';
import type { CodeEditor, LineProblem } from '../code-editor.ts';
import { Editor } from '../components.tsx';

const TEMPLATES: Record<string, string> = {
  js: 'export default async (event) => {\n  console.log("event", event);\n  return { hello: event?.name ?? "world" };\n};\n',
  ts: 'export default async (event: { name?: string }) => {\n  console.log("event", event);\n  return { hello: event?.name ?? "world" };\n};\n',
  node: 'export default async (event) => {\n  console.log("event", event);\n  return { hello: event?.name ?? "world" };\n};\n',
  python:
    'def handler(event, context):\n    print("event", event)\n    return {"hello": (event or {}).get("name", "world")}\n',
};

const FILES: Record<string, string> = { js: 'index.js', ts: 'index.ts', node: 'index.js', python: 'main.py' };

/**
 * Code in CodeMirror and a Deploy button: PUT /functions/{name}. A compile error is shown at its
 * line in the editor and listed under it.
 */
export function DeployForm(props: {
  name?: string;
  runtime?: string;
  /** The deployed version's files: the editor opens `mainFile`; the others are deployed as they are. */
  files?: Record<string, string>;
  mainFile?: string;
  onDeployed: (fn: FunctionRecord) => void;
}) {
  const [name, setName] = useState(props.name ?? '');
  const [runtime, setRuntime] = useState(props.runtime ?? 'js');
  const [problems, setProblems] = useState<LineProblem[]>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const editor = useRef<CodeEditor>();
  const deploy = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    setProblems([]);
    try {
      const main = props.mainFile ?? FILES[runtime] ?? 'index.js';
      const code = { files: { ...props.files, [main]: editor.current?.value() ?? '' } };
      const fn = await call<FunctionRecord>(`/api/v1/functions/${encodeURIComponent(name)}`, {
        method: 'PUT',
        json: { runtime, code },
      });
      props.onDeployed(fn);
    } catch (err) {
      const details =
        err instanceof ApiError && Array.isArray(err.body.details)
          ? (err.body.details as CompileDetail[])
          : [];
      const atLines = details.filter((d) => typeof d.line === 'number');
      setProblems(
        atLines.map((d) => ({
          line: d.line as number,
          ...(d.column ? { column: d.column } : {}),
          message: d.message,
        })),
      );
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={deploy} class="deploy">
      <div class="row">
        {props.name === undefined && (
          <label>
            Name
            <input
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
              required
              pattern="[a-z0-9][a-z0-9\-_]{0,62}"
            />
          </label>
        )}
        <label>
          Runtime
          <select value={runtime} onChange={(e) => setRuntime(e.currentTarget.value)}>
            <option value="js">js (isolate)</option>
            <option value="ts">ts (isolate)</option>
            <option value="node">node (container)</option>
            <option value="python">python (container)</option>
          </select>
        </label>
      </div>
      <Editor
        initial={(props.mainFile && props.files?.[props.mainFile]) ?? TEMPLATES[runtime] ?? ''}
        language={runtime === 'python' ? 'python' : runtime === 'ts' ? 'ts' : 'js'}
        label="Function code"
        problems={problems}
        editorRef={editor}
      />
      {error && (
        <div role="alert" class="error compile-error">
          <p>{error}</p>
          {problems.length > 0 && (
            <ul>
              {problems.map((p) => (
                <li key={`${p.line}:${p.column}`}>
                  line {p.line}
                  {p.column ? `:${p.column}` : ''} — {p.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <button type="submit" aria-disabled={busy}>
        {busy ? 'Deploying…' : 'Deploy'}
      </button>
    </form>
  );
}
