import { useEffect, useState } from 'preact/hooks';

/** The console's routes live under /console/ (the server gives index.html for any of them). */
export const BASE = '/console';

function current(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return (path || '/') + location.search;
}

export function navigate(to: string): void {
  history.pushState(null, '', BASE + to);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The console path (below /console) and its query, following history. */
export function useRoute(): string {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return route;
}

/** A link that routes in the page; still a real href (open in a new tab works). */
export function href(to: string): { href: string; onClick: (event: MouseEvent) => void } {
  return {
    href: BASE + to,
    onClick: (event: MouseEvent) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(to);
    },
  };
}
