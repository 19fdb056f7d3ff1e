import { call, type FunctionRecord, type Page, query } from '../api.ts';
import { Loading, time, useApi } from '../components.tsx';
import { href, navigate } from '../router.ts';

/** Every function, searched by name and paged with the API's cursor. */
export function FunctionsList({ route }: { route: string }) {
  const params = new URLSearchParams(route.split('?')[1] ?? '');
  const search = params.get('q') ?? '';
  const cursor = params.get('cursor') ?? undefined;
  const { data, error } = useApi(
    () => call<Page<FunctionRecord>>(`/api/v1/functions${query({ limit: 50, cursor })}`),
    [cursor],
  );
  const shown = data?.items.filter((fn) => fn.name.includes(search.toLowerCase()));
  return (
    <section>
      <div class="bar">
        <h1>Functions</h1>
        <input
          type="search"
          aria-label="Search functions"
          placeholder="Search"
          value={search}
          onInput={(e) => {
            const q = e.currentTarget.value;
            history.replaceState(null, '', `/console/functions${query({ q, cursor })}`);
            dispatchEvent(new PopStateEvent('popstate'));
          }}
        />
        <a class="button" {...href('/functions/new')}>
          New function
        </a>
      </div>
      <Loading error={error}>
        {shown && (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Runtime</th>
                  <th>Version</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((fn) => (
                  <tr key={fn.name}>
                    <td>
                      <a {...href(`/functions/${encodeURIComponent(fn.name)}`)}>{fn.name}</a>
                    </td>
                    <td>{fn.latest.runtime}</td>
                    <td>v{fn.latestVersion}</td>
                    <td>{time(fn.updatedAt)}</td>
                  </tr>
                ))}
                {shown.length === 0 && (
                  <tr>
                    <td colSpan={4}>No functions{search ? ` matching “${search}”` : ''}.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        )}
        {data?.nextCursor && (
          <button
            type="button"
            onClick={() => navigate(`/functions${query({ q: search, cursor: data.nextCursor })}`)}
          >
            Next page
          </button>
        )}
      </Loading>
    </section>
  );
}
