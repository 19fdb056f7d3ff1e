import { useState } from 'preact/hooks';
import {
  call,
  type FunctionRecord,
  type FunctionVersion,
  type Invocation,
  type Page,
  query,
} from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';
import { href } from '../router.ts';
import { DeployForm } from './deploy-form.tsx';
import { FunctionCharts } from './function-charts.tsx';
import { InvocationRows } from './invocations.tsx';
import { InvokePanel } from './invoke-panel.tsx';
import { LogTail } from './log-tail.tsx';

/** One function: its config, routes, versions and recent invocations; invoke it, deploy new code. */
export function FunctionPage({ name }: { name: string }) {
  const path = `/api/v1/functions/${encodeURIComponent(name)}`;
  const fn = useApi(() => call<FunctionRecord>(path), [name]);
  const versions = useApi(
    () => call<Page<FunctionVersion>>(`${path}/versions${query({ limit: 20 })}`),
    [name],
  );
  const recent = useApi(
    () => call<Page<Invocation>>(`/api/v1/invocations${query({ functionName: name, limit: 10 })}`),
    [name],
  );
  const [editing, setEditing] = useState(false);
  const latest = fn.data?.latest;
  return (
    <section>
      <div class="bar">
        <h1>{name}</h1>
        {latest && <span class="badge">v{latest.version}</span>}
        <button type="button" onClick={() => setEditing(!editing)}>
          {editing ? 'Close editor' : 'Deploy new code'}
        </button>
      </div>
      <Loading error={fn.error}>
        {latest && (
          <>
            {editing && (
              <DeployForm
                name={name}
                runtime={latest.runtime}
                onDeployed={() => {
                  setEditing(false);
                  fn.reload();
                  versions.reload();
                }}
              />
            )}
            <div class="grid">
              <div class="card">
                <h2>Config</h2>
                <dl>
                  <dt>Runtime</dt>
                  <dd>{latest.runtime}</dd>
                  <dt>Handler</dt>
                  <dd>{latest.handler ?? 'default'}</dd>
                  <dt>Timeout</dt>
                  <dd>{latest.timeoutMs} ms</dd>
                  <dt>Memory</dt>
                  <dd>{latest.memoryMb} MB</dd>
                  <dt>Max concurrency</dt>
                  <dd>{latest.maxConcurrency}</dd>
                  <dt>Env</dt>
                  <dd>{Object.keys(latest.env ?? {}).join(', ') || 'none'}</dd>
                  <dt>Routes</dt>
                  <dd>
                    {(latest.routes ?? []).map((r) => `${r.method} ${r.path}`).join(', ') || 'none'} (and /fn/
                    {name})
                  </dd>
                </dl>
              </div>
              <InvokePanel name={name} onInvoked={recent.reload} />
            </div>
            <div class="grid">
              <FunctionCharts name={name} version={recent.data} />
              <LogTail name={name} />
            </div>
            <h2>Versions</h2>
            <Loading error={versions.error}>
              <div class="scroll">
                <table>
                  <thead>
                    <tr>
                      <th>Version</th>
                      <th>Created</th>
                      <th>Code</th>
                    </tr>
                  </thead>
                  <tbody>
                    {versions.data?.items.map((v) => (
                      <tr key={v.version}>
                        <td>v{v.version}</td>
                        <td>{time(v.createdAt)}</td>
                        <td>
                          <code>{v.codeSha256.slice(0, 12)}</code> ({v.codeSizeBytes} B)
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Loading>
            <h2>
              Recent invocations <a {...href(`/invocations${query({ functionName: name })}`)}>all</a>
            </h2>
            <Loading error={recent.error}>
              {recent.data && <InvocationRows items={recent.data.items} />}
            </Loading>
          </>
        )}
      </Loading>
    </section>
  );
}
