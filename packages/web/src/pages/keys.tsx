import { useState } from 'preact/hooks';
import { call } from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';

interface Key {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
}

/** API keys, for admins: list, create (the key is shown once), revoke. */
export function KeysPage({ admin }: { admin: boolean }) {
  const keys = useApi(
    () => (admin ? call<{ items: Key[] }>('/api/v1/keys') : Promise.resolve({ items: [] })),
    [admin],
  );
  const [name, setName] = useState('');
  const [role, setRole] = useState('user');
  const [created, setCreated] = useState<string>();
  const [error, setError] = useState<string>();
  if (!admin) return <p>Keys are managed with an admin key.</p>;
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const made = await call<Key & { key: string }>('/api/v1/keys', { json: { name, role } });
      setCreated(made.key);
      setName('');
      keys.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const revoke = async (key: Key) => {
    if (!confirm(`Revoke ${key.name}? It stops working at once.`)) return;
    await call(`/api/v1/keys/${key.id}`, { method: 'DELETE' }).catch((err: Error) => setError(err.message));
    setCreated(undefined);
    keys.reload();
  };
  return (
    <section>
      <h1>API keys</h1>
      <form class="row" onSubmit={create}>
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit">Create key</button>
      </form>
      {created && (
        <div class="card notice" role="status">
          <p>The new key, shown this once:</p>
          <code class="secret">{created}</code>
        </div>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Loading error={keys.error}>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Role</th>
                <th>Prefix</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.data?.items.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>{key.role}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{time(key.createdAt)}</td>
                  <td>
                    <button type="button" onClick={() => revoke(key)}>
                      Revoke
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
