import { Component, type JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { summarizeEvent, type EventSummary } from '../model/event-summary.js';
import { formatClock } from '../model/format.js';
import type { LoggedEvent } from '../model/site-model.js';
import { OpLink } from './common.js';
import { useThrottledValue } from './hooks.js';
import type { Site } from './site.js';

const KINDS: readonly EventSummary['kind'][] = ['operation', 'phase', 'node', 'host', 'policy'];

/** A row never changes once drawn (events are immutable): re-rendering the list only adds and drops rows. */
class EventRow extends Component<{ logged: LoggedEvent }> {
  override shouldComponentUpdate(next: { logged: LoggedEvent }): boolean {
    return next.logged !== this.props.logged;
  }

  override render(): JSX.Element {
    return <EventLine logged={this.props.logged} />;
  }
}

function EventLine({ logged }: { logged: LoggedEvent }): JSX.Element {
  const s = summarizeEvent(logged.event);
  return (
    <tr data-testid="event-row" class={`ev ev-${s.tone}`}>
      <td class="nowrap mono">{formatClock(s.unixMs)}</td>
      <td>
        <span class={`kind kind-${s.kind}`}>{s.kind}</span>
      </td>
      <td class="mono">{s.subject}</td>
      <td class="wrap">{s.text}</td>
      <td>
        <OpLink id={s.operationId} />
      </td>
    </tr>
  );
}

/** `#/events`: the live stream, newest first (the last 500 events the page received). */
export function EventsView({ site }: { site: Site }): JSX.Element {
  const { model } = site;
  const [paused, setPaused] = useState<LoggedEvent[] | undefined>();
  const [kind, setKind] = useState('');
  // At thousands of events a second, redrawing 500 rows every frame would keep the page busy:
  // the list follows a few times a second instead.
  const version = useThrottledValue(model.versions.events, 250);
  const live = useMemo(() => model.events.newestFirst(), [version]);
  const all = paused ?? live;
  const rows = kind ? all.filter((l) => l.event[kind as keyof LoggedEvent['event']] !== undefined) : all;
  return (
    <div class="view">
      <section class="panel">
        <h2>
          Events <span class="muted">last {model.events.capacity} received, newest first</span>
        </h2>
        <div class="toolbar">
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)} data-testid="event-filter-kind">
            <option value="">all kinds</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => setPaused(paused ? undefined : live)} data-testid="event-pause">
            {paused ? 'resume' : 'pause'}
          </button>
          {paused && <span class="muted">paused: new events are held back</span>}
        </div>
        <table class="grid compact" data-testid="event-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Kind</th>
              <th>Subject</th>
              <th>What</th>
              <th>Operation</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((l) => (
              <EventRow key={l.seq} logged={l} />
            ))}
          </tbody>
        </table>
        {!rows.length && <p class="muted">no event received yet: they appear here as the coordinator works</p>}
      </section>
    </div>
  );
}
