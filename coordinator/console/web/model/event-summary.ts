import type { CoordinatorEventJson } from './api-types.js';
import { enumLabel, formatSeconds, phaseShort } from './format.js';

/** How an event reads in the events view: one compact line. */
export interface EventSummary {
  unixMs: number;
  kind: 'phase' | 'operation' | 'node' | 'host' | 'policy' | 'empty';
  /** What it is about: node hostname, host name, policy file. */
  subject: string;
  /** State, phase and edge, duration … */
  text: string;
  /** The operation it belongs to, for a link to its timeline. */
  operationId?: string;
  /** For colouring: bad (failed, down, rejected), ok (succeeded, running, up) or plain. */
  tone: 'ok' | 'bad' | 'plain';
}

const BAD = new Set(['failed', 'down']);
const OK = new Set(['succeeded', 'running', 'up']);

function toneOf(state: string): EventSummary['tone'] {
  return BAD.has(state) ? 'bad' : OK.has(state) ? 'ok' : 'plain';
}

/** One line's worth of an event (the console's `vonode events`). */
export function summarizeEvent(e: CoordinatorEventJson): EventSummary {
  const unixMs = e.unixMs ?? 0;
  if (e.phase) {
    const p = e.phase;
    const edge = enumLabel(p.edge ?? '', 'EDGE_');
    const took = edge === 'end' ? ` ${formatSeconds(p.durationMs ?? 0)} s` : '';
    const details = Object.entries(p.details ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => ` ${k}=${v}`)
      .join('');
    return { unixMs, kind: 'phase', subject: p.hostname ?? '-', text: `${phaseShort(p.phase)} ${edge}${took}${details}`, operationId: p.operationId, tone: 'plain' };
  }
  if (e.operation) {
    const o = e.operation;
    const state = enumLabel(o.state ?? '', 'OPERATION_STATE_');
    const kind = enumLabel(o.kind ?? '', 'OPERATION_KIND_');
    const where = o.host ? ` on ${o.host}` : '';
    const attempt = o.attempt ? ` attempt ${o.attempt}` : '';
    const err = o.error ? `: ${o.error}` : '';
    return { unixMs, kind: 'operation', subject: o.node || '-', text: `${kind} ${state}${where}${attempt}${err}`, operationId: o.id, tone: toneOf(state) };
  }
  if (e.node) {
    const n = e.node;
    const state = enumLabel(n.state ?? '', 'NODE_STATE_');
    const err = n.error ? `: ${n.error}` : '';
    return { unixMs, kind: 'node', subject: n.hostname, text: `${state} vo=${n.vo || '-'} host=${n.host || '-'}${err}`, operationId: n.operationId, tone: toneOf(state) };
  }
  if (e.host) {
    const state = enumLabel(e.host.state ?? '', 'HOST_STATE_');
    return { unixMs, kind: 'host', subject: e.host.name, text: state, tone: toneOf(state) };
  }
  if (e.policy) {
    const p = e.policy;
    return p.rejectedError
      ? { unixMs, kind: 'policy', subject: p.file || '-', text: `rejected: ${p.rejectedError.split('\n').join('; ')}`, tone: 'bad' }
      : { unixMs, kind: 'policy', subject: p.file || '(API)', text: `loaded sha256=${(p.sha256 ?? '').slice(0, 12) || '-'}`, tone: 'ok' };
  }
  return { unixMs, kind: 'empty', subject: '-', text: '', tone: 'plain' };
}
