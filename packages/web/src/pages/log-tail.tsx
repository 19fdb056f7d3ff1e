import { useEffect, useState } from 'preact/hooks';
import { call, query } from '../api.ts';

interface LogLine {
  seq: number;
  ts: number;
  level: string;
  message: string;
  invocationId: string;
}

/** Lines kept on screen; older ones scroll away. */
const KEEP = 200;
const POLL_MS = 1500;

/**
 * A function's logs as they are written: GET /api/v1/logs from the newest line on, asked again
 * every 1.5 s while it is open (the API's cursor, `afterSeq`, so nothing is missed between asks).
 */
export function LogTail({ name }: { name: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<string>();
  const [following, setFollowing] = useState(false);
  useEffect(() => {
    if (!following) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const page = (afterSeq: number) =>
      call<{ items: LogLine[]; nextSeq: number }>(
        `/api/v1/logs${query({ functionName: name, afterSeq, limit: 1000 })}`,
      );
    const follow = async (afterSeq: number, catchingUp: boolean) => {
      try {
        const { items, nextSeq } = await page(afterSeq);
        if (!live) return;
        if (items.length > 0) setLines((old) => [...old, ...items].slice(-KEEP));
        // A full page: more are waiting, ask at once.
        const delay = items.length === 1000 ? 0 : POLL_MS;
        if (catchingUp && items.length === 1000) return void follow(nextSeq, true);
        timer = setTimeout(() => void follow(nextSeq, false), delay);
      } catch (err) {
        if (live) setError((err as Error).message);
      }
    };
    setLines([]);
    setError(undefined);
    void follow(0, true);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [following, name]);
  return (
    <div class="card">
      <div class="bar">
        <h2>Logs</h2>
        <button type="button" aria-pressed={following} onClick={() => setFollowing(!following)}>
          {following ? 'Stop following' : 'Follow logs'}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {following && (
        <pre class="logs tail" aria-live="polite">
          {lines
            .map((l) => `${new Date(l.ts).toISOString()} ${l.invocationId} ${l.level}\t${l.message}`)
            .join('\n') || '(no lines yet)'}
        </pre>
      )}
    </div>
  );
}
