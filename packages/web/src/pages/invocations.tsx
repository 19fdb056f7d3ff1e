import { useState } from 'preact/hooks';
import { call, type Invocation, type Page, query } from '../api.ts';
import { Loading, ms, time, useApi } from '../components.tsx';
import { href, navigate } from '../router.ts';

export function InvocationRows({ items }: { items: Invocation[] }) {
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Invocation</th>
            <th>Function</th>
            <th>Status</th>
            <th>Duration</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {items.map((inv) => (
            <tr key={inv.id}>
              <td>
                <a {...href(`/invocations/${inv.id}`)}>{inv.id}</a>
              </td>
              <td>
                {inv.functionName} v{inv.version}
              </td>
              <td>
                <span class={`status ${inv.status}`}>{inv.status}</span>
              </td>
              <td>{ms(inv.durationMs)}</td>
              <td>{time(inv.createdAt)}</td>
            </tr>
          ))}
          {items.length === 0 && (
            <tr>
              <td colSpan={5}>No invocations.</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

const STATUSES = ['', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'dead_lettered'];

/** Invocations filtered by function, status and time, newest first. */
export function InvocationsList({ route }: { route: string }) {
  const params = new URLSearchParams(route.split('?')[1] ?? '');
  const filter = {
    functionName: params.get('functionName') ?? '',
    status: params.get('status') ?? '',
    since: params.get('since') ?? '',
  };
  const cursor = params.get('cursor') ?? undefined;
  const [form, setForm] = useState(filter);
  const { data, error } = useApi(
    () =>
      call<Page<Invocation>>(
        `/api/v1/invocations${query({ ...filter, since: filter.since ? new Date(filter.since).toISOString() : undefined, limit: 50, cursor })}`,
      ),
    [route],
  );
  return (
    <section>
      <h1>Invocations</h1>
      <form
        class="row filters"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/invocations${query(form)}`);
        }}
      >
        <label>
          Function
          <input
            value={form.functionName}
            onInput={(e) => setForm({ ...form, functionName: e.currentTarget.value })}
          />
        </label>
        <label>
          Status
          <select value={form.status} onChange={(e) => setForm({ ...form, status: e.currentTarget.value })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input
            type="datetime-local"
            value={form.since}
            onInput={(e) => setForm({ ...form, since: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Loading error={error}>
        {data && <InvocationRows items={data.items} />}
        {data?.nextCursor && (
          <button
            type="button"
            onClick={() => navigate(`/invocations${query({ ...filter, cursor: data.nextCursor })}`)}
          >
            Next page
          </button>
        )}
      </Loading>
    </section>
  );
}

/** One invocation's whole record: event outcome, error with stack, logs. */
export function InvocationPage({ id }: { id: string }) {
  const { data, error } = useApi(
    () => call<Invocation>(`/api/v1/invocations/${encodeURIComponent(id)}`),
    [id],
  );
  return (
    <section>
      <h1>Invocation {id}</h1>
      <Loading error={error}>
        {data && (
          <>
            <dl class="card">
              <dt>Function</dt>
              <dd>
                <a {...href(`/functions/${encodeURIComponent(data.functionName)}`)}>{data.functionName}</a> v
                {data.version}
              </dd>
              <dt>Status</dt>
              <dd>
                <span class={`status ${data.status}`}>{data.status}</span>
              </dd>
              <dt>Mode / trigger</dt>
              <dd>
                {data.mode} / {data.trigger}
              </dd>
              <dt>Attempts</dt>
              <dd>{data.attempts}</dd>
              <dt>Created</dt>
              <dd>{time(data.createdAt)}</dd>
              <dt>Duration</dt>
              <dd>{ms(data.durationMs)}</dd>
            </dl>
            {data.result !== undefined && (
              <>
                <h2>Result</h2>
                <pre class="result">{JSON.stringify(data.result, null, 2)}</pre>
              </>
            )}
            {data.error && (
              <>
                <h2>Error</h2>
                <div class="error">
                  <p>
                    {data.error.type}: {data.error.message}
                  </p>
                  {data.error.stack && <pre>{data.error.stack}</pre>}
                </div>
              </>
            )}
            <h2>Logs</h2>
            <pre class="logs">
              {(data.logs ?? [])
                .map((l) => `${new Date(l.ts).toISOString()} ${l.level}\t${l.message}`)
                .join('\n') || '(none)'}
            </pre>
          </>
        )}
      </Loading>
    </section>
  );
}
