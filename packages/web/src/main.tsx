import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, type SessionInfo, setCsrfToken, whenSignedOut } from './api.ts';
import { ExecutePage } from './pages/execute.tsx';
import { FunctionPage } from './pages/function-page.tsx';
import { FunctionsList } from './pages/functions-list.tsx';
import { InstancesPage } from './pages/instances.tsx';
import { InvocationPage, InvocationsList } from './pages/invocations.tsx';
import { KeysPage } from './pages/keys.tsx';
import { NewFunction } from './pages/new-function.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { href, useRoute } from './router.ts';
import './style.css';

function Page({ route, session }: { route: string; session: SessionInfo }) {
  const path = route.split('?')[0] ?? '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'functions' && parts[1] === 'new') return <NewFunction />;
  if (parts[0] === 'functions' && parts[1]) return <FunctionPage name={parts[1]} />;
  if (parts[0] === 'invocations' && parts[1]) return <InvocationPage id={parts[1]} />;
  if (parts[0] === 'invocations') return <InvocationsList route={route} />;
  if (parts[0] === 'execute') return <ExecutePage />;
  if (parts[0] === 'instances') return <InstancesPage selected={parts[1]} />;
  if (parts[0] === 'keys') return <KeysPage admin={!session.auth || session.key?.role === 'admin'} />;
  return <FunctionsList route={route} />;
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const content = useRef<HTMLElement>(null);
  const shownRoute = useRef(route);
  // A new page moves focus to its content, as a page load would put it at the top: the keyboard
  // goes on from there, and a screen reader reads the new page, not the link that led to it.
  useEffect(() => {
    if (shownRoute.current === route) return;
    shownRoute.current = route;
    content.current?.focus({ preventScroll: true });
  }, [route]);
  useEffect(() => {
    whenSignedOut(() => setSession(null));
    call<SessionInfo>('/api/v1/session').then(
      (info) => {
        setCsrfToken(info.csrfToken);
        setSession(info);
      },
      () => setSession(null),
    );
  }, []);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <SignIn
        onSignedIn={(info) => {
          setCsrfToken(info.csrfToken);
          setSession(info);
        }}
      />
    );
  }
  const signOut = async () => {
    await call('/api/v1/session', { method: 'DELETE' }).catch(() => {});
    setCsrfToken(undefined);
    setSession(null);
  };
  const nav = [
    ['/functions', 'Functions'],
    ['/invocations', 'Invocations'],
    ['/execute', 'Execute'],
    ['/instances', 'Instances'],
    ['/keys', 'Keys'],
  ] as const;
  return (
    <>
      <header class="top">
        <a class="skip" href="#content">
          Skip to content
        </a>
        <a class="brand" {...href('/functions')}>
          faas
        </a>
        <nav aria-label="Main">
          {nav.map(([to, label]) => (
            <a key={to} {...href(to)} aria-current={route.startsWith(to) ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">{session.key ? `${session.key.name} (${session.key.role})` : 'auth off'}</span>
        {session.auth && (
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main id="content" tabIndex={-1} ref={content}>
        <Page route={route} session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
