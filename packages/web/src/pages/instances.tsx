import { useEffect, useRef, useState } from 'preact/hooks';
import { call, type Page } from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';
import { href, navigate } from '../router.ts';
import { InstanceFiles } from './instance-files.tsx';
import { Snapshots } from './snapshots.tsx';

interface InstanceView {
  id: string;
  status: string;
  image: string;
  isolation: string;
  memory_mb: number;
  created_at: string;
}

function TerminalView({ id }: { id: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting');
  useEffect(() => {
    let live = true;
    let close = () => {};
    import('../terminal.ts')
      .then(({ openTerminal }) =>
        host.current ? openTerminal(host.current, id, (s) => live && setStatus(s)) : undefined,
      )
      .then((terminal) => {
        if (!terminal) return;
        if (live) close = () => terminal.close();
        else terminal.close();
      })
      .catch((err: Error) => live && setStatus(`failed: ${err.message}`));
    return () => {
      live = false;
      close();
    };
  }, [id]);
  return (
    <div class="card">
      <h2>
        Terminal{' '}
        <span class="badge" data-status={status}>
          {status}
        </span>
      </h2>
      <div class="terminal" ref={host} />
    </div>
  );
}

/** Instances: start one, stop or delete it, and a terminal in it. */
export function InstancesPage({ selected }: { selected?: string | undefined }) {
  const list = useApi(() => call<Page<InstanceView>>('/api/v1/instances'), []);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const act = async (work: () => Promise<unknown>) => {
    setError(undefined);
    setBusy(true);
    try {
      await work();
      list.reload();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <div class="bar">
        <h1>Instances</h1>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            act(async () => {
              const made = await call<InstanceView>('/api/v1/instances', { json: {} });
              navigate(`/instances/${made.id}`);
            })
          }
        >
          {busy ? 'Working…' : 'Start instance'}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {selected && (
        <>
          <TerminalView id={selected} />
          <div class="grid">
            <InstanceFiles id={selected} />
            <Snapshots id={selected} />
          </div>
        </>
      )}
      <Loading error={list.error}>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Instance</th>
                <th>Status</th>
                <th>Image</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data?.items.map((instance) => (
                <tr key={instance.id}>
                  <td>
                    <a {...href(`/instances/${instance.id}`)}>{instance.id}</a>
                  </td>
                  <td>{instance.status}</td>
                  <td>{instance.image}</td>
                  <td>{time(instance.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      onClick={() =>
                        act(() => call(`/api/v1/instances/${instance.id}/stop`, { method: 'POST' }))
                      }
                    >
                      Stop
                    </button>{' '}
                    <button
                      type="button"
                      onClick={() =>
                        act(async () => {
                          await call(`/api/v1/instances/${instance.id}`, { method: 'DELETE' });
                          if (selected === instance.id) navigate('/instances');
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Loading>
    </section>
  );
}
