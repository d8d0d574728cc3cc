import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { isUnauthorized } from '../model/api-client.js';
import type { WhoAmIJson } from '../model/api-types.js';
import { LiveSync, type LiveState, type OpenStream } from '../model/live-sync.js';
import type { Route } from '../model/route.js';
import { EventsView } from './events-view.js';
import { Header } from './header.js';
import { useHashRoute } from './hooks.js';
import { HostsView } from './hosts-view.js';
import { LayersView } from './layers-view.js';
import { LoginForm } from './login-form.js';
import { NodesView } from './nodes-view.js';
import { OperationView } from './operation-view.js';
import { OperationsView } from './operations-view.js';
import { OverviewView } from './overview-view.js';
import type { Site } from './site.js';

/** Props of App: the model and side effects, made once by the entry point. */
export interface AppProps {
  site: Site;
  openStream: OpenStream;
  /** Reloads the page (after login and logout). */
  reload: () => void;
}

type Auth = { state: 'checking' } | { state: 'login' } | { state: 'in'; me: WhoAmIJson } | { state: 'error'; message: string };

function CurrentView({ route, seq, site }: { route: Route; seq: number; site: Site }): JSX.Element {
  switch (route.view) {
    case 'overview':
      return <OverviewView site={site} />;
    case 'hosts':
      return <HostsView site={site} />;
    case 'nodes':
      // Keyed by navigation: a link to another filter remounts the view with it.
      return <NodesView key={seq} site={site} initialFilter={route.filter} initialPage={route.page} />;
    case 'operations':
      return <OperationsView site={site} />;
    case 'operation':
      return <OperationView key={route.id} site={site} id={route.id} />;
    case 'layers':
      return <LayersView site={site} />;
    case 'events':
      return <EventsView site={site} />;
    case 'notfound':
      return (
        <div class="panel">
          no view at <span class="mono">{route.path}</span>: <a href="#/">overview</a>
        </div>
      );
  }
}

/**
 * The console: asks /api/whoami first (401 → the login form), then keeps the
 * site model live over one event stream and re-renders at most once per
 * animation frame (LiveSync calls `onRender` so).
 */
export function App({ site, openStream, reload }: AppProps): JSX.Element {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const [live, setLive] = useState<LiveState>('connecting');
  const [error, setError] = useState<string>();
  const [, setFrame] = useState(0);
  const { route, seq } = useHashRoute();

  const sync = useMemo(
    () =>
      new LiveSync({
        model: site.model,
        api: site.api,
        openStream,
        timers: site.timers,
        onRender: () => setFrame((n) => n + 1),
        onState: setLive,
        onUnauthorized: () => setAuth({ state: 'login' }),
        onError: setError,
      }),
    [site, openStream],
  );

  useEffect(() => {
    let cancelled = false;
    site.api.whoami().then(
      (me) => {
        if (cancelled) return;
        setAuth({ state: 'in', me });
        sync.start();
      },
      (e: unknown) => {
        if (cancelled) return;
        setAuth(isUnauthorized(e) ? { state: 'login' } : { state: 'error', message: e instanceof Error ? e.message : String(e) });
      },
    );
    return () => {
      cancelled = true;
      sync.stop();
    };
  }, [sync]);

  useEffect(() => {
    const names: Record<Route['view'], string> = { overview: 'overview', hosts: 'hosts', nodes: 'nodes', operations: 'operations', operation: 'operation', layers: 'layers', events: 'events', notfound: 'not found' };
    const siteName = auth.state === 'in' ? auth.me.site : '';
    document.title = `${names[route.view]} · ${siteName || 'vonode'} console`;
  }, [route.view, auth]);

  if (auth.state === 'checking') return <div class="splash muted">vonode console…</div>;
  if (auth.state === 'login') return <LoginForm api={site.api} onLoggedIn={reload} />;
  if (auth.state === 'error') {
    return (
      <div class="splash">
        <div class="panel error">
          the console did not answer: {auth.message}{' '}
          <button type="button" onClick={reload}>
            retry
          </button>
        </div>
      </div>
    );
  }
  const logout = (): void => {
    site.api.logout().then(reload, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  return (
    <div class="shell">
      <Header site={auth.me.site || site.model.status?.site || ''} me={auth.me} live={live} route={route} onLogout={logout} />
      {auth.me.coordinator === 'standby' && (
        <div class="banner banner-info" data-testid="standby-banner">
          This coordinator is a standby: it shows the site as replicated from the leader.
        </div>
      )}
      {error && (
        <div class="banner banner-bad" data-testid="load-error">
          {error}
        </div>
      )}
      <main class="main">
        <CurrentView route={route} seq={seq} site={site} />
      </main>
    </div>
  );
}
