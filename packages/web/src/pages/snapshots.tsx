import { useState } from 'preact/hooks';
import { call, type Page, query } from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';
import { navigate } from '../router.ts';

interface Snapshot {
  id: string;
  name: string | null;
  instance_id: string;
  kind: string;
  size_bytes: number;
  created_at: string;
}

/** An instance's snapshots: take one, restore one (a new instance), fork one (two new instances). */
export function Snapshots({ id }: { id: string }) {
  const list = useApi(() => call<Page<Snapshot>>(`/api/v1/snapshots${query({ instance_id: id })}`), [id]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
      list.reload();
    }
  };
  return (
    <div class="card">
      <div class="bar">
        <h2>Snapshots</h2>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            act(async () => void (await call('/api/v1/snapshots', { json: { instance_id: id } })))
          }
        >
          {busy ? 'Working…' : 'Take snapshot'}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Loading error={list.error}>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Snapshot</th>
                <th>Kind</th>
                <th>Size</th>
                <th>Taken</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data?.items.map((snapshot) => (
                <tr key={snapshot.id}>
                  <td>{snapshot.name ?? snapshot.id}</td>
                  <td>{snapshot.kind}</td>
                  <td>{Math.round(snapshot.size_bytes / 1024)} KB</td>
                  <td>{time(snapshot.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      disabled={busy}
                      onClick={() =>
                        act(async () => {
                          const made = await call<{ id: string }>(
                            `/api/v1/snapshots/${snapshot.id}/restore`,
                            {
                              method: 'POST',
                            },
                          );
                          navigate(`/instances/${made.id}`);
                        })
                      }
                    >
                      Restore
                    </button>{' '}
                    <button
                      type="button"
                      disabled={busy}
                      onClick={() =>
                        act(async () => {
                          await call(`/api/v1/snapshots/${snapshot.id}/fork`, { json: { count: 2 } });
                          navigate('/instances');
                        })
                      }
                    >
                      Fork ×2
                    </button>
                  </td>
                </tr>
              ))}
              {list.data?.items.length === 0 && (
                <tr>
                  <td colSpan={5}>No snapshots.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </Loading>
    </div>
  );
}
