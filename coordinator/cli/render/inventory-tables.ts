import { hostStateToJSON, nodeStateToJSON, type Host, type Node } from '../../../shared/gen/vonode/v1/coordinator.js';
import { enumLabel, formatAge, formatBytes, shortId } from './format.js';
import { renderTable } from './table.js';

/** `vonode hosts`: one row per physical host with its agent's facts. */
export function renderHosts(hosts: readonly Host[], nowMs: number): string[] {
  if (!hosts.length) return ['no hosts registered: start vonode-agent on the physical hosts (it registers with the coordinator)'];
  const columns = [
    { header: 'HOST' },
    { header: 'STATE' },
    { header: 'ADDRESS' },
    { header: 'HYPERVISOR' },
    { header: 'CPUS', right: true },
    { header: 'MEM FREE/TOTAL', right: true },
    { header: 'DISK FREE', right: true },
    { header: 'NODES', right: true },
    { header: 'ACTIVE OP' },
    { header: 'LAST SEEN', right: true },
  ];
  const rows = hosts.map((h) => {
    const f = h.facts;
    return [
      h.name,
      enumLabel(hostStateToJSON(h.state), 'HOST_STATE_'),
      h.address || '-',
      f?.hypervisor || '-',
      f ? String(f.cpus) : '-',
      f ? `${formatBytes(f.memoryAvailableBytes)}/${formatBytes(f.memoryTotalBytes)}` : '-',
      f ? formatBytes(f.diskFreeBytes) : '-',
      String(h.nodes),
      h.activeOperation ? shortId(h.activeOperation) : '-',
      h.lastSeenUnixMs ? `${formatAge(h.lastSeenUnixMs, nowMs)} ago` : '-',
    ];
  });
  return renderTable(columns, rows);
}

/** `vonode nodes`: one row per virtual worker node; a failed node shows its error. */
export function renderNodes(nodes: readonly Node[], nowMs: number, vo = ''): string[] {
  if (!nodes.length) return [vo ? `no nodes for VO ${vo}` : 'no nodes'];
  const columns = [
    { header: 'NODE' },
    { header: 'VO' },
    { header: 'STATE' },
    { header: 'HOST' },
    { header: 'IP' },
    { header: 'MAC' },
    { header: 'SINCE', right: true },
    { header: 'OPERATION' },
    { header: 'ERROR' },
  ];
  const rows = nodes.map((n) => [
    n.hostname,
    n.vo || '-',
    enumLabel(nodeStateToJSON(n.state), 'NODE_STATE_'),
    n.host || '-',
    n.ip || '-',
    n.mac || '-',
    formatAge(n.sinceUnixMs, nowMs),
    n.operationId ? shortId(n.operationId) : '-',
    n.error ? n.error.split('\n')[0]! : '',
  ]);
  return renderTable(columns, rows);
}
