import { useState } from 'preact/hooks';
import {
  call,
  callRaw,
  errorOf,
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
  const [rollback, setRollback] = useState<{ busy?: number; error?: string }>({});
  const source = useApi(
    () =>
      editing && fn.data
        ? call<{ files: Record<string, string>; binaryFiles: string[] }>(
            `${path}/versions/${fn.data.latestVersion}/code`,
          )
        : Promise.resolve(undefined),
    [editing, fn.data?.latestVersion],
  );
  const rollBack = async (v: FunctionVersion) => {
    setRollback({ busy: v.version });
    try {
      await call(`${path}`, { method: 'PUT', json: await rollbackBody(path, v) });
      setRollback({});
      fn.reload();
      versions.reload();
    } catch (err) {
      setRollback({ error: (err as Error).message });
    }
  };
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
            {editing && source.error && (
              <p role="alert" class="error">
                {source.error.message}
              </p>
            )}
            {editing && source.data?.binaryFiles.length ? (
              <p class="error">
                This version has files that are not text ({source.data.binaryFiles.join(', ')}): deploy it
                with the CLI.
              </p>
            ) : null}
            {editing && source.data && source.data.binaryFiles.length === 0 && (
              <DeployForm
                name={name}
                runtime={latest.runtime}
                files={source.data.files}
                mainFile={mainFile(source.data.files, latest)}
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
            {rollback.error && (
              <p role="alert" class="error">
                {rollback.error}
              </p>
            )}
            <Loading error={versions.error}>
              <div class="scroll">
                <table>
                  <thead>
                    <tr>
                      <th>Version</th>
                      <th>Created</th>
                      <th>Code</th>
                      <th />
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
                        <td>
                          {v.version !== latest.version && (
                            <button
                              type="button"
                              disabled={rollback.busy !== undefined}
                              onClick={() => rollBack(v)}
                            >
                              {rollback.busy === v.version ? 'Rolling back…' : `Roll back to v${v.version}`}
                            </button>
                          )}
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

/** The file the handler names (`index.default` → index.js/index.ts; python `main.handler` → main.py). */
function mainFile(files: Record<string, string>, version: FunctionVersion): string {
  const module = (version.handler ?? 'index.default').split('.').slice(0, -1).join('.') || 'index';
  const names = Object.keys(files);
  return names.find((f) => f.replace(/\.[^./]+$/, '') === module) ?? names[0] ?? 'index.js';
}

/** The PUT that makes a new version with an earlier one's code (its archive, as stored) and config. */
async function rollbackBody(path: string, v: FunctionVersion): Promise<Record<string, unknown>> {
  const response = await callRaw(`${path}/versions/${v.version}/code?format=tar`);
  if (!response.ok) throw await errorOf(response);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const { runtime, handler, env, timeoutMs, memoryMb, maxConcurrency, maxRetries, routes, description } = v;
  const config = {
    runtime,
    handler,
    env,
    timeoutMs,
    memoryMb,
    maxConcurrency,
    maxRetries,
    routes,
    description,
  };
  const extra = v as FunctionVersion & {
    image?: string;
    command?: unknown;
    isolation?: string;
    network?: boolean;
  };
  return {
    ...config,
    ...(extra.image !== undefined ? { image: extra.image } : {}),
    ...(extra.command !== undefined ? { command: extra.command } : {}),
    ...(extra.isolation !== undefined ? { isolation: extra.isolation } : {}),
    ...(extra.network !== undefined ? { network: extra.network } : {}),
    code: { archive: btoa(binary), format: 'tar' },
  };
}
