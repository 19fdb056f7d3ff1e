import { useEffect, useState } from 'preact/hooks';
import { call, query } from '../api.ts';
import { applyTailEvent, EMPTY_TAIL, entryLine, type TailState } from '../tail-events.ts';

/** What the stream is doing, as the page says it. */
type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  closed: 'closed',
};

const EVENT_TYPES = ['start', 'log', 'end', 'gap'] as const;

/**
 * A function's invocations as they happen: `GET /api/v1/logs/stream` through EventSource (the
 * session cookie authorizes it), each invocation's start, its log lines and its end, failures
 * included. EventSource reconnects by itself with Last-Event-ID; the reducer drops what a
 * reconnect sends again, and shows a gap the server could not replay.
 */
export function LogTail({ name }: { name: string }) {
  const [tail, setTail] = useState<TailState>(EMPTY_TAIL);
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const [following, setFollowing] = useState(false);
  useEffect(() => {
    if (!following) return;
    setTail(EMPTY_TAIL);
    setStatus('connecting');
    const source = new EventSource(`/api/v1/logs/stream${query({ functionName: name })}`);
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (e) => {
        const { lastEventId, data } = e as MessageEvent<string>;
        setTail((old) => applyTailEvent(old, type, lastEventId, data));
      });
    }
    source.onopen = () => setStatus('live');
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return setStatus('reconnecting');
      // Refused (EventSource does not say why): a session that ended signs the page out.
      setStatus('closed');
      call('/api/v1/session').catch(() => {});
    };
    return () => source.close();
  }, [following, name]);
  return (
    <div class="card">
      <div class="bar">
        <h2>Logs</h2>
        <button type="button" aria-pressed={following} onClick={() => setFollowing(!following)}>
          {following ? 'Stop following' : 'Follow logs'}
        </button>
        {following && (
          <span class="badge" data-status={status} role="status">
            {STATUS_TEXT[status]}
          </span>
        )}
      </div>
      {following && (
        <pre class="logs tail" aria-live="polite">
          {tail.entries.length === 0
            ? '(waiting for invocations)'
            : tail.entries.map((entry, i) => (
                <span
                  key={entry.id ?? `gap-${i}`}
                  class={`tail-${entry.kind}${entry.bad ? ' bad' : ''}`}
                  title={entry.invocationId}
                >
                  {`${entryLine(entry)}\n`}
                </span>
              ))}
        </pre>
      )}
    </div>
  );
}
