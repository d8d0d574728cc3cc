import type { JSX } from 'preact';
import type { ImageTransferJson, VoStatusJson } from '../model/api-types.js';
import { formatAge, formatBytes, formatDateTime, formatDuration, formatPercent, formatRate, shortId } from '../model/format.js';
import { nodesHash } from '../model/route.js';
import { EmptyRow, Meter, OpLink, Stat } from './common.js';
import type { Site } from './site.js';

/** The deploy backoff of a VO: when it is held, else `-`. */
function held(vo: VoStatusJson, now: number): JSX.Element {
  const until = vo.deployHeldUntilUnixMs ?? 0;
  if (until <= now) return <span class="muted">-</span>;
  return (
    <span class="warn" title={formatDateTime(until)}>
      until {formatDateTime(until).slice(11)} (in {formatDuration(until - now)})
    </span>
  );
}

function VoRow({ vo, totalWeight, now }: { vo: VoStatusJson; totalWeight: number; now: number }): JSX.Element {
  const weight = vo.weight ?? 0;
  const failures = vo.deployFailures ?? 0;
  return (
    <tr data-testid={`vo-row-${vo.vo}`}>
      <td>
        <a href={nodesHash({ vo: vo.vo })}>{vo.vo}</a>
      </td>
      <td class="num">
        {weight} <span class="muted">({formatPercent(weight, totalWeight)})</span>
      </td>
      <td class="num" data-testid="vo-target">
        {vo.target ?? 0}
      </td>
      <td class="num" data-testid="vo-demand">
        {vo.demand ?? 0}
      </td>
      <td class="num" data-testid="vo-running">
        {vo.running ?? 0}
      </td>
      <td class="num">{vo.deploying ?? 0}</td>
      <td class="num">{vo.draining ?? 0}</td>
      <td class="num" title={vo.lastDeployError}>
        {failures ? <span class="bad">{failures}</span> : <span class="muted">0</span>}
      </td>
      <td>{held(vo, now)}</td>
      <td class="wrap error-text">{vo.lastDeployError ?? ''}</td>
    </tr>
  );
}

function TransferRow({ t, now }: { t: ImageTransferJson; now: number }): JSX.Element {
  const size = t.sizeBytes ?? 0;
  const done = t.verifiedBytes ?? 0;
  return (
    <tr data-testid="transfer-row">
      <td>{t.host ?? '-'}</td>
      <td class="mono" title={t.sha256}>
        {shortId(t.sha256 ?? '', 12)}
      </td>
      <td>{t.source ?? '-'}</td>
      <td>{t.purpose ?? '-'}</td>
      <td class="num">{formatRate(t.rateBytesPerSecond)}</td>
      <td>
        <Meter part={done} total={size} title={`${formatBytes(done)} of ${size ? formatBytes(size) : 'unknown size'}`} />{' '}
        <span class="muted">
          {formatBytes(done)} / {size ? formatBytes(size) : '?'}
        </span>
      </td>
      <td>{t.operationId?.startsWith('prefetch:') ? <span class="muted">prefetch</span> : <OpLink id={t.operationId} />}</td>
      <td class="num">{formatAge(t.startedUnixMs ?? 0, now)}</td>
    </tr>
  );
}

/** `#/`: the site at a glance, from /api/status (refreshed as events arrive). */
export function OverviewView({ site }: { site: Site }): JSX.Element {
  const status = site.model.status;
  if (!status) return <div class="panel muted">loading status…</div>;
  const now = Date.now();
  const vos = [...(status.vos ?? [])].sort((a, b) => a.vo.localeCompare(b.vo));
  const totalWeight = vos.reduce((s, v) => s + (v.weight ?? 0), 0);
  const transfers = status.transfers ?? [];
  const poolTotal = status.poolTotal ?? 0;
  const poolFree = status.poolFree ?? 0;
  const hostsDown = status.hostsDown ?? 0;
  const policy = site.model.policy;
  const cluster = status.cluster;
  return (
    <div class="view">
      <div class="stats">
        <Stat label="Hosts up / down" testid="stat-hosts" tone={hostsDown ? 'bad' : undefined}>
          {status.hostsUp ?? 0} / {hostsDown}
        </Stat>
        <Stat label="Pool free / total" testid="stat-pool">
          {poolFree} / {poolTotal}
          <Meter part={poolTotal - poolFree} total={poolTotal} title={`${poolTotal - poolFree} leased`} />
        </Stat>
        <Stat label="Queue: queued / running" testid="stat-queue">
          {status.queuedOperations ?? 0} / {status.runningOperations ?? 0}
        </Stat>
        <Stat label="Image transfers" testid="stat-transfers">
          {transfers.length}
        </Stat>
        <Stat label="Policy" testid="stat-policy" tone={policy?.rejectedError ? 'bad' : undefined}>
          <span title={policy?.rejectedError || policy?.sha256}>{policy?.rejectedError ? 'rejected' : policy?.file ? 'loaded' : '-'}</span>
        </Stat>
        <Stat label="Coordinator" testid="stat-coordinator">
          <span title={cluster?.leader ? `leader ${cluster.leader}` : undefined}>
            {cluster?.role || '-'} <span class="muted">{cluster?.store ?? ''}</span>
          </span>
        </Stat>
      </div>

      {policy?.rejectedError && (
        <div class="banner banner-bad" data-testid="policy-rejected">
          policy file {policy.file || ''} rejected, the previous policy stays in force: {policy.rejectedError}
        </div>
      )}

      <section class="panel">
        <h2>Virtual organizations</h2>
        <table class="grid" data-testid="vo-table">
          <thead>
            <tr>
              <th>VO</th>
              <th class="num" title="policy weight (share of the pool)">Share</th>
              <th class="num" title="nodes the policy wants now">Target</th>
              <th class="num" title="demand from the batch system">Demand</th>
              <th class="num">Running</th>
              <th class="num">Deploying</th>
              <th class="num">Draining</th>
              <th class="num" title="deployments failed for good since the last success">Failures</th>
              <th title="no new deployment until then (backoff after failures)">Held</th>
              <th>Last deploy error</th>
            </tr>
          </thead>
          <tbody>
            {vos.length ? vos.map((v) => <VoRow key={v.vo} vo={v} totalWeight={totalWeight} now={now} />) : <EmptyRow columns={10} text="no VO in the policy" />}
          </tbody>
        </table>
      </section>

      <section class="panel">
        <h2>Image transfers</h2>
        <table class="grid" data-testid="transfer-table">
          <thead>
            <tr>
              <th>Host</th>
              <th>Image</th>
              <th>Source</th>
              <th>Purpose</th>
              <th class="num">Rate</th>
              <th>Verified</th>
              <th>Operation</th>
              <th class="num">Age</th>
            </tr>
          </thead>
          <tbody>
            {transfers.length ? (
              transfers.map((t) => <TransferRow key={t.operationId ?? `${t.host}:${t.sha256}`} t={t} now={now} />)
            ) : (
              <EmptyRow columns={8} text="no image download running" />
            )}
          </tbody>
        </table>
      </section>
      <p class="muted small">coordinator started {formatDateTime(status.startedUnixMs)}</p>
    </div>
  );
}
