import { useState } from 'preact/hooks';
import { call } from '../api.ts';

interface ExecuteResult {
  stdout: string;
  stderr: string;
  exit_code: number;
  duration_ms: number;
  timed_out: boolean;
  oom_killed: boolean;
  truncated: boolean;
}

/** Run a command in a fresh sandbox (POST /execute) and see its output. */
export function ExecutePage() {
  const [command, setCommand] = useState('echo hello from $(uname -s)');
  const [result, setResult] = useState<ExecuteResult>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      setResult(await call<ExecuteResult>('/api/v1/execute', { json: { command } }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Execute</h1>
      <form onSubmit={run} class="card execute-form">
        <label for="command">Command (run with /bin/sh -c in a fresh sandbox, no network)</label>
        <textarea
          id="command"
          rows={4}
          class="mono"
          required
          value={command}
          onInput={(e) => setCommand(e.currentTarget.value)}
        />
        <button type="submit" aria-disabled={busy}>
          {busy ? 'Running…' : 'Run'}
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {result && (
        <div class="card" aria-live="polite">
          <p>
            exit <strong>{result.exit_code}</strong> · {result.duration_ms} ms
            {result.timed_out && ' · timed out'}
            {result.oom_killed && ' · out of memory'}
            {result.truncated && ' · output cut'}
          </p>
          <h3>stdout</h3>
          <pre class="stdout">{result.stdout}</pre>
          {result.stderr && (
            <>
              <h3>stderr</h3>
              <pre class="error">{result.stderr}</pre>
            </>
          )}
        </div>
      )}
    </section>
  );
}
