import { edgeToJSON } from '../../../shared/gen/vonode/v1/common.js';
import {
  CoordinatorEvent,
  hostStateToJSON,
  nodeStateToJSON,
  operationKindToJSON,
  operationStateToJSON,
} from '../../../shared/gen/vonode/v1/coordinator.js';
import { enumLabel, formatSeconds, formatTime, shortId } from './format.js';
import { phaseName } from './phase-names.js';

/**
 * `vonode events`: one human line per event, `TIME KIND fields…`. The time is
 * the event's stamp (wall clock of the coordinator); details print as k=v.
 */
export function formatEventLine(event: CoordinatorEvent): string {
  const at = formatTime(event.unixMs);
  const e = event.event;
  switch (e?.$case) {
    case 'phase': {
      const p = e.value;
      const edge = enumLabel(edgeToJSON(p.edge), 'EDGE_');
      const took = edge === 'end' ? ` ${formatSeconds(p.durationMs)}s` : '';
      const details = Object.entries(p.details)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => ` ${k}=${v}`)
        .join('');
      return `${at} phase      ${p.hostname} ${phaseName(p.phase)} ${edge}${took} op=${shortId(p.operationId)}${details}`;
    }
    case 'operation': {
      const o = e.value;
      const kind = enumLabel(operationKindToJSON(o.kind), 'OPERATION_KIND_');
      const state = enumLabel(operationStateToJSON(o.state), 'OPERATION_STATE_');
      const where = o.host ? ` host=${o.host}` : '';
      const err = o.error ? ` error=${JSON.stringify(o.error)}` : '';
      return `${at} operation  ${kind} ${state} ${o.node || '-'} vo=${o.vo || '-'}${where} attempt=${o.attempt} trigger=${o.trigger || '-'} op=${shortId(o.id)}${err}`;
    }
    case 'host': {
      const h = e.value;
      return `${at} host       ${h.name} ${enumLabel(hostStateToJSON(h.state), 'HOST_STATE_')} nodes=${h.nodes} address=${h.address || '-'}`;
    }
    case 'node': {
      const n = e.value;
      const err = n.error ? ` error=${JSON.stringify(n.error)}` : '';
      return `${at} node       ${n.hostname} ${enumLabel(nodeStateToJSON(n.state), 'NODE_STATE_')} vo=${n.vo || '-'} host=${n.host || '-'} ip=${n.ip || '-'}${err}`;
    }
    case 'policy': {
      const p = e.value;
      return p.rejectedError
        ? `${at} policy     REJECTED ${p.file || '-'}: ${p.rejectedError.split('\n').join('; ')} (previous policy ${shortId(p.sha256, 12)} stays in force)`
        : `${at} policy     loaded ${p.file || '(API)'} sha256=${shortId(p.sha256, 12)}`;
    }
    default:
      return `${at} (empty event)`;
  }
}

/** `vonode events --json`: the event as one line of proto JSON (generated toJSON). */
export function formatEventJson(event: CoordinatorEvent): string {
  return JSON.stringify(CoordinatorEvent.toJSON(event));
}
