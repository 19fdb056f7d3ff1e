import { useRef, useState } from 'preact/hooks';
import { call, callRaw, errorOf, type Invocation } from '../api.ts';
import type { CodeEditor } from '../code-editor.ts';
import { Editor, ms } from '../components.tsx';
import { href } from '../router.ts';

interface Outcome {
  status: number;
  durationMs?: string;
  invocationId?: string;
  body: string;
  error?: { code: string; message: string; details?: { stack?: string; type?: string } };
  logs?: Invocation['logs'];
}

/** An event (JSON) in, the result, duration, logs and error (with its stack) out. */
export function InvokePanel({ name, onInvoked }: { name: string; onInvoked: () => void }) {
  const editor = useRef<CodeEditor>();
  const [async, setAsync] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const invoke = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setProblem(undefined);
    const text = editor.current?.value() ?? '';
    try {
      if (text.trim()) JSON.parse(text);
    } catch (err) {
      setProblem(`The event is not JSON: ${(err as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      const response = await callRaw(
        `/api/v1/functions/${encodeURIComponent(name)}/invoke${async ? '?async=true' : ''}`,
        {
          method: 'POST',
          ...(text.trim() ? { body: text, headers: { 'content-type': 'application/json' } } : {}),
        },
      );
      const id = response.headers.get('x-invocation-id') ?? undefined;
      const result: Outcome = { status: response.status, body: '' };
      if (response.ok) result.body = await response.text();
      else result.error = (await errorOf(response)).body as Outcome['error'];
      const durationMs = response.headers.get('x-duration-ms');
      if (durationMs) result.durationMs = durationMs;
      const invocationId =
        id ?? (result.error?.details as { invocationId?: string } | undefined)?.invocationId;
      if (invocationId) {
        result.invocationId = invocationId;
        if (!async) result.logs = (await call<Invocation>(`/api/v1/invocations/${invocationId}`)).logs ?? [];
      }
      setOutcome(result);
      onInvoked();
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card invoke" onSubmit={invoke}>
      <h2>Invoke</h2>
      <Editor
        initial={'{\n  "name": "console"\n}\n'}
        language="json"
        label="Event (JSON)"
        editorRef={editor}
      />
      <div class="row">
        <label>
          <input type="checkbox" checked={async} onChange={(e) => setAsync(e.currentTarget.checked)} /> async
        </label>
        <button type="submit" aria-disabled={busy}>
          {busy ? 'Invoking…' : 'Invoke'}
        </button>
      </div>
      {problem && (
        <p role="alert" class="error">
          {problem}
        </p>
      )}
      {outcome && (
        <div class="outcome" aria-live="polite">
          <p>
            <strong>{outcome.status}</strong>
            {outcome.durationMs && ` · ${ms(Number(outcome.durationMs))}`}
            {outcome.invocationId && (
              <>
                {' · '}
                <a {...href(`/invocations/${outcome.invocationId}`)}>{outcome.invocationId}</a>
              </>
            )}
          </p>
          {outcome.body && <pre class="result">{outcome.body}</pre>}
          {outcome.error && (
            <div class="error">
              <p>
                {outcome.error.code}: {outcome.error.message}
              </p>
              {outcome.error.details?.stack && <pre>{outcome.error.details.stack}</pre>}
            </div>
          )}
          {outcome.logs && (
            <>
              <h3>Logs</h3>
              <pre class="logs">
                {outcome.logs.map((l) => `${l.level}\t${l.message}`).join('\n') || '(none)'}
              </pre>
            </>
          )}
        </div>
      )}
    </form>
  );
}
