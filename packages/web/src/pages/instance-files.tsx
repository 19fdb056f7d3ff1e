import { useState } from 'preact/hooks';
import { call, callRaw, errorOf, query } from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';

interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  modified_at: string;
}

function join(folder: string, name: string): string {
  return folder.endsWith('/') ? `${folder}${name}` : `${folder}/${name}`;
}

function parent(folder: string): string {
  const cut = folder.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : folder.slice(0, cut);
}

/** An instance's files: browse folders, download a file, upload into the folder shown. */
export function InstanceFiles({ id }: { id: string }) {
  const [folder, setFolder] = useState('/workspace');
  const [error, setError] = useState<string>();
  const base = `/api/v1/instances/${encodeURIComponent(id)}/files`;
  const listing = useApi(
    () => call<{ path: string; entries: FileEntry[] }>(`${base}${query({ path: folder })}`),
    [id, folder],
  );
  const upload = async (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setError(undefined);
    const response = await callRaw(`${base}${query({ path: join(folder, file.name) })}`, {
      method: 'PUT',
      body: file,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (!response.ok) setError((await errorOf(response)).message);
    input.value = '';
    listing.reload();
  };
  return (
    <div class="card">
      <div class="bar">
        <h2>Files</h2>
        <code>{folder}</code>
        <label class="button">
          Upload
          <input type="file" class="visually-hidden" onChange={upload} />
        </label>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Loading error={listing.error}>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Size</th>
                <th>Modified</th>
              </tr>
            </thead>
            <tbody>
              {folder !== '/' && (
                <tr>
                  <td colSpan={3}>
                    <button type="button" class="link" onClick={() => setFolder(parent(folder))}>
                      ..
                    </button>
                  </td>
                </tr>
              )}
              {listing.data?.entries.map((entry) => (
                <tr key={entry.name}>
                  <td>
                    {entry.type === 'directory' ? (
                      <button type="button" class="link" onClick={() => setFolder(join(folder, entry.name))}>
                        {entry.name}/
                      </button>
                    ) : (
                      <a href={`${base}${query({ path: join(folder, entry.name) })}`} download={entry.name}>
                        {entry.name}
                      </a>
                    )}
                  </td>
                  <td>{entry.type === 'file' ? `${entry.size} B` : entry.type}</td>
                  <td>{time(entry.modified_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Loading>
    </div>
  );
}
