import type { JSX } from 'preact';
import type { WhoAmIJson } from '../model/api-types.js';
import type { LiveState } from '../model/live-sync.js';
import type { Route } from '../model/route.js';

const NAV: ReadonlyArray<{ id: string; label: string; href: string; views: readonly Route['view'][] }> = [
  { id: 'overview', label: 'Overview', href: '#/', views: ['overview'] },
  { id: 'hosts', label: 'Hosts', href: '#/hosts', views: ['hosts'] },
  { id: 'nodes', label: 'Nodes', href: '#/nodes', views: ['nodes'] },
  { id: 'operations', label: 'Operations', href: '#/operations', views: ['operations', 'operation'] },
  { id: 'layers', label: 'Layers', href: '#/layers', views: ['layers'] },
  { id: 'events', label: 'Events', href: '#/events', views: ['events'] },
];

const LIVE_TEXT: Record<LiveState, string> = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', stopped: 'offline' };

/** Props of Header. */
export interface HeaderProps {
  site: string;
  me: WhoAmIJson | undefined;
  live: LiveState;
  route: Route;
  onLogout?: () => void;
}

/** The top bar: site, navigation, who is looking, the coordinator's role and the live connection. */
export function Header({ site, me, live, route, onLogout }: HeaderProps): JSX.Element {
  return (
    <header class="topbar">
      <div class="brand">
        <span class="brand-name">vonode</span>
        <span class="site-name" data-testid="site-name">
          {site || '…'}
        </span>
      </div>
      <nav class="nav">
        {NAV.map((n) => (
          <a key={n.id} href={n.href} class={n.views.includes(route.view) ? 'active' : undefined} data-testid={`nav-${n.id}`}>
            {n.label}
          </a>
        ))}
      </nav>
      <div class="who">
        {me && (
          <>
            <span class={`role role-${me.coordinator}`} data-testid="coordinator-role" title="the coordinator answering this console">
              {me.coordinator}
            </span>
            <span class="user" data-testid="whoami" title={`role ${me.role}, via ${me.via}`}>
              {me.name} <span class="muted">({me.role} via {me.via})</span>
            </span>
            {me.via === 'token' && onLogout && (
              <button type="button" class="link-button" onClick={onLogout} data-testid="logout">
                log out
              </button>
            )}
          </>
        )}
        <span class={`live live-${live}`} data-testid="live-state" title="the /api/events stream">
          {LIVE_TEXT[live]}
        </span>
      </div>
    </header>
  );
}
