import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { LayerStatJson, LayerSummaryJson } from '../model/api-types.js';
import { formatSeconds, fromDatetimeLocal, toDatetimeLocal } from '../model/format.js';
import type { Site } from './site.js';

const DAY_MS = 24 * 3600 * 1000;

type Load = { state: 'idle' | 'loading' } | { state: 'error'; message: string } | { state: 'ok'; summary: LayerSummaryJson };

function Bar({ ms, maxMs, kind, text }: { ms: number | null; maxMs: number; kind: 'mean' | 'median' | 'paper'; text: string }): JSX.Element {
  const pct = ms !== null && maxMs > 0 ? Math.max(0.3, (ms / maxMs) * 100) : 0;
  return (
    <div class="hbar-row">
      <span class="hbar-kind">{text}</span>
      <span class="hbar-track">
        {ms !== null && <span class={`hbar hbar-${kind}`} style={{ width: `${pct.toFixed(2)}%` }} />}
      </span>
      <span class="hbar-value">{ms === null ? '-' : `${formatSeconds(ms)} s`}</span>
    </div>
  );
}

function LayerBars({ stat, maxMs }: { stat: LayerStatJson; maxMs: number }): JSX.Element {
  return (
    <div class="layer" data-testid={`layer-${stat.layer}`}>
      <div class="layer-label">
        {stat.label} <span class="muted small">{stat.count} ops</span>
      </div>
      <Bar ms={stat.meanMs} maxMs={maxMs} kind="mean" text="mean" />
      <Bar ms={stat.medianMs} maxMs={maxMs} kind="median" text="median" />
      <Bar ms={stat.paperSeconds * 1000} maxMs={maxMs} kind="paper" text="2007" />
    </div>
  );
}

/** `#/layers`: the paper's Fig. 3 over the deployments created in a chosen period (default the last 24 h). */
export function LayersView({ site }: { site: Site }): JSX.Element {
  const [since, setSince] = useState(() => toDatetimeLocal(Date.now() - DAY_MS));
  const [until, setUntil] = useState(() => toDatetimeLocal(Date.now() + 60_000));
  const [load, setLoad] = useState<Load>({ state: 'idle' });

  const fetchSummary = async (): Promise<void> => {
    const s = fromDatetimeLocal(since);
    const u = fromDatetimeLocal(until);
    if (s === undefined || u === undefined || s >= u) {
      setLoad({ state: 'error', message: 'choose a period: "from" before "until"' });
      return;
    }
    setLoad({ state: 'loading' });
    try {
      setLoad({ state: 'ok', summary: await site.api.layers(s, u) });
    } catch (e) {
      setLoad({ state: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  };
  useEffect(() => void fetchSummary(), []);

  const summary = load.state === 'ok' ? load.summary : undefined;
  const stats = summary ? [...summary.layers, summary.total] : [];
  const maxMs = Math.max(1, ...stats.flatMap((s) => [s.meanMs ?? 0, s.medianMs ?? 0, s.paperSeconds * 1000]));
  return (
    <div class="view">
      <section class="panel">
        <h2>Deployment layers (the paper's Fig. 3)</h2>
        <form
          class="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            void fetchSummary();
          }}
        >
          <label>
            from <input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} data-testid="layers-since" />
          </label>
          <label>
            until <input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} data-testid="layers-until" />
          </label>
          <button type="submit" class="primary" data-testid="layers-apply" disabled={load.state === 'loading'}>
            Show
          </button>
          {summary && (
            <span class="muted" data-testid="layers-count">
              {summary.succeeded} succeeded of {summary.deployments} deployments
            </span>
          )}
        </form>
        {load.state === 'error' && <div class="error">{load.message}</div>}
        {load.state === 'loading' && <div class="muted">loading…</div>}
        {summary && (
          <>
            <div class="layers">
              {stats.map((s) => (
                <LayerBars key={s.layer} stat={s} maxMs={maxMs} />
              ))}
            </div>
            <table class="grid" data-testid="layers-table">
              <thead>
                <tr>
                  <th>Layer</th>
                  <th>Phases</th>
                  <th class="num">Mean (s)</th>
                  <th class="num">Median (s)</th>
                  <th class="num">Ops</th>
                  <th class="num">Paper 2007 (s)</th>
                </tr>
              </thead>
              <tbody>
                {stats.map((s) => (
                  <tr key={s.layer} class={s.layer === 'total' ? 'row-total' : undefined}>
                    <td>{s.label}</td>
                    <td class="mono small">{s.phases.join(' ')}</td>
                    <td class="num">{s.meanMs === null ? '-' : formatSeconds(s.meanMs)}</td>
                    <td class="num">{s.medianMs === null ? '-' : formatSeconds(s.medianMs)}</td>
                    <td class="num">{s.count}</td>
                    <td class="num">{s.paperSeconds}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="muted small">
              A layer is the sum of its phase durations over the succeeded deployments that ran every one of its phases. CR..VMR and SR run one after
              another; PUB and GW both start when SR ends and run side by side, so the total counts the longer of the two. The paper's layers are a
              sequence (114 + 2 + 170 + 90 = 376 s).
            </p>
          </>
        )}
      </section>
    </div>
  );
}
