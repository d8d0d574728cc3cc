import { expect } from 'chai';
import { formatEventJson, formatEventLine } from '../../../../coordinator/cli/render/event-line.js';
import { enumLabel, formatAge, formatBytes } from '../../../../coordinator/cli/render/format.js';
import { renderHosts, renderNodes } from '../../../../coordinator/cli/render/inventory-tables.js';
import { renderStatus } from '../../../../coordinator/cli/render/status-view.js';
import { renderTable } from '../../../../coordinator/cli/render/table.js';
import { Edge, Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { ListHostsResponse, ListNodesResponse, StatusResponse, type CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { cannedData } from '../../../helpers/coordinator-double.js';

const NOW = 1_790_000_000_000 + 90_000;
const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);

describe('coordinator/cli/render: tables, status, events, JSON', () => {
  it('renderTable aligns columns, right-aligns numbers and trims trailing spaces', () => {
    const lines = renderTable([{ header: 'NAME' }, { header: 'N', right: true }, { header: 'NOTE' }], [['a', '7', ''], ['long-name', '12']]);
    expect(lines).to.deep.equal(['NAME        N  NOTE', 'a           7', 'long-name  12']);
  });

  it('formats bytes, ages and enum labels', () => {
    expect(formatBytes(0)).to.equal('0 B');
    expect(formatBytes(5 * 1024 ** 3)).to.equal('5.0 GiB');
    expect(formatAge(NOW - 4_000, NOW)).to.equal('4s');
    expect(formatAge(NOW - (3 * 3600 + 5 * 60) * 1000, NOW)).to.equal('3h05m');
    expect(formatAge(0, NOW)).to.equal('-');
    expect(enumLabel('HOST_STATE_UP', 'HOST_STATE_')).to.equal('up');
    expect(enumLabel('HOST_STATE_UNSPECIFIED', 'HOST_STATE_')).to.equal('-');
  });

  it('renders hosts with state, facts and last seen; a host without facts shows -', () => {
    const lines = renderHosts(cannedData().hosts, NOW);
    expect(cells(lines[0])).to.deep.equal(['HOST', 'STATE', 'ADDRESS', 'HYPERVISOR', 'CPUS', 'MEM FREE/TOTAL', 'DISK FREE', 'NODES', 'ACTIVE OP', 'LAST SEEN']);
    expect(cells(lines[1])).to.deep.equal(['phys01', 'up', '10.0.0.11:7081', 'qemu', '2', '5.0 GiB/8.0 GiB', '60.0 GiB', '2', 'op-deplo', '1m30s ago']);
    expect(cells(lines[3])).to.deep.equal(['phys03', 'down', '10.0.0.13:7081', '-', '-', '-', '-', '0', '-', '2m30s ago']);
    expect(renderHosts([], NOW)[0]).to.match(/no hosts registered: start vonode-agent/);
  });

  it('renders nodes with VO, state and error; an empty VO filter result says which VO', () => {
    const nodes = cannedData().nodes;
    nodes[1] = { ...nodes[1]!, error: 'no DHCP lease\nmore detail' };
    const lines = renderNodes(nodes, NOW);
    expect(cells(lines[0])).to.deep.equal(['NODE', 'VO', 'STATE', 'HOST', 'IP', 'MAC', 'SINCE', 'OPERATION', 'ERROR']);
    expect(cells(lines[2])).to.deep.equal(['vo-bio-02', 'bio', 'deploying', 'phys01', '10.0.1.12', '52:54:00:00:01:12', '1m30s', 'op-deplo', 'no DHCP lease']);
    expect(renderNodes([], NOW, 'astro')).to.deep.equal(['no nodes for VO astro']);
  });

  it('renders the status summary and one row per VO', () => {
    const lines = renderStatus(cannedData().status, '127.0.0.1:7080', { nowMs: NOW, color: false });
    expect(lines[0]).to.equal('site        ucm  (coordinator 127.0.0.1:7080, up 1m30s)');
    expect(lines).to.include('hosts       2 up, 1 down');
    expect(lines).to.include('pool        5 free of 8');
    expect(lines).to.include('operations  1 queued, 1 running');
    expect(lines.some((l) => l.includes('REJECTED'))).to.equal(false);
    const header = lines.findIndex((l) => l.startsWith('VO'));
    expect(cells(lines[header])).to.deep.equal(['VO', 'WEIGHT', 'TARGET', 'RUNNING', 'DEPLOYING', 'DRAINING', 'DEMAND']);
    expect(cells(lines[header + 1])).to.deep.equal(['bio', '2', '2', '1', '1', '0', '7']);
  });

  it('lists the image transfers with purpose, host, image, source, admitted rate, progress and age; none: no table', () => {
    const status = cannedData().status;
    expect(renderStatus(status, 'c:1', { nowMs: NOW, color: false }).some((l) => l.startsWith('TRANSFER'))).to.equal(false);
    status.transfers = [
      { host: 'phys-02', sha256: 'ab'.repeat(32), source: 'phys-01', rateBytesPerSecond: 11_875_000, sizeBytes: 300 * 1024 ** 2, verifiedBytes: 75 * 1024 ** 2, purpose: 'deploy', operationId: 'op-1', startedUnixMs: NOW - 12_000 },
      { host: 'phys-03', sha256: 'cd'.repeat(32), source: 'repository', rateBytesPerSecond: 1_187_500, sizeBytes: 0, verifiedBytes: 4096, purpose: 'prefetch', operationId: 'prefetch:phys-03:x', startedUnixMs: NOW - 3_000 },
    ];
    const out = renderStatus(status, 'c:1', { nowMs: NOW, color: false });
    const at = out.findIndex((l) => l.startsWith('TRANSFER'));
    expect(cells(out[at])).to.deep.equal(['TRANSFER', 'HOST', 'IMAGE', 'SOURCE', 'RATE', 'PROGRESS', 'AGE']);
    expect(cells(out[at + 1])).to.deep.equal(['deploy', 'phys-02', 'abababababab', 'phys-01', '95.0 Mbit/s', '25% of 300MiB', '12s']);
    expect(cells(out[at + 2])).to.deep.equal(['prefetch', 'phys-03', 'cdcdcdcdcdcd', 'repository', '9.5 Mbit/s', '4KiB', '3s']);
  });

  it('says which VOs\' deployments fail, whether new ones are held back, the last error and where to look', () => {
    const status = cannedData().status;
    expect(renderStatus(status, 'c:1', { nowMs: NOW, color: false }).some((l) => l.includes('failed since'))).to.equal(false);
    status.vos[0] = { ...status.vos[0]!, deployFailures: 3, deployHeldUntilUnixMs: NOW + 35_000, lastDeployError: 'phys01: PT: GET http://repo/bio.qcow2: HTTP 404\nmore' };
    status.vos[1] = { ...status.vos[1]!, deployFailures: 1, deployHeldUntilUnixMs: NOW - 1_000, lastDeployError: 'phys02: VMR timed out' };
    const out = renderStatus(status, 'c:1', { nowMs: NOW, color: false });
    const at = out.findIndex((l) => l.startsWith('bio: '));
    expect(out.slice(at)).to.deep.equal([
      'bio: 3 deployment(s) failed since the last success; the scaling loop holds new ones back for 35s more',
      '  last error: phys01: PT: GET http://repo/bio.qcow2: HTTP 404',
      '  the hold lifts when a deployment of bio succeeds; one caused by its image or VM spec also lifts as soon as the policy changes them (vonode policy check /etc/vonode/policy.yaml)',
      'fusion: 1 deployment(s) failed since the last success; new ones allowed again',
      '  last error: phys02: VMR timed out',
      '  the hold lifts when a deployment of fusion succeeds; one caused by its image or VM spec also lifts as soon as the policy changes them (vonode policy check /etc/vonode/policy.yaml)',
    ]);
  });

  it('shouts when the policy file on disk was rejected (red only with colour)', () => {
    const status = cannedData().status;
    status.policy = { ...status.policy!, rejectedError: 'vos.bio.max: is 2, below min (3)' };
    const plain = renderStatus(status, 'c:1', { nowMs: NOW, color: false });
    const loud = plain.filter((l) => l.startsWith('!!!'));
    expect(loud[0]).to.match(/POLICY FILE REJECTED: \/etc\/vonode\/policy\.yaml .*PREVIOUS policy .* still in force/);
    expect(loud.join('\n')).to.include('vos.bio.max: is 2, below min (3)');
    expect(loud.join('\n')).to.include('vonode policy check /etc/vonode/policy.yaml');
    const colored = renderStatus(status, 'c:1', { nowMs: NOW, color: true });
    expect(colored.filter((l) => l.includes('\u001b[1;31m'))).to.have.length(loud.length);
  });

  it('prints proto JSON with enum names (generated toJSON)', () => {
    const d = cannedData();
    const hosts = JSON.parse(JSON.stringify(ListHostsResponse.toJSON({ hosts: d.hosts }))) as { hosts: Array<Record<string, unknown>> };
    expect(hosts.hosts[0]).to.include({ name: 'phys01', state: 'HOST_STATE_UP', nodes: 2 });
    const nodes = ListNodesResponse.toJSON({ nodes: d.nodes }) as { nodes: Array<Record<string, unknown>> };
    expect(nodes.nodes[0]).to.include({ hostname: 'vo-bio-01', state: 'NODE_STATE_RUNNING', vo: 'bio' });
    expect(StatusResponse.toJSON(d.status)).to.include({ site: 'ucm', hostsDown: 1, poolFree: 5 });
  });

  it('formats one event per line, and one JSON object per line with --json', () => {
    const event: CoordinatorEvent = {
      unixMs: Date.UTC(2026, 10, 25, 12, 0, 0),
      event: { $case: 'phase', value: { operationId: 'op-1234567890', hostname: 'vo-bio-01', phase: Phase.PHASE_PT, edge: Edge.EDGE_END, monotonicMs: 1, unixMs: 0, durationMs: 2310, details: { cache_hit: 'false' } } },
    };
    expect(formatEventLine(event)).to.equal('2026-11-25T12:00:00.000Z phase      vo-bio-01 PT end 2.31s op=op-12345 cache_hit=false');
    const json = formatEventJson(event);
    expect(json).to.not.include('\n');
    expect(JSON.parse(json)).to.deep.include({ phase: { operationId: 'op-1234567890', hostname: 'vo-bio-01', phase: 'PHASE_PT', edge: 'EDGE_END', monotonicMs: 1, durationMs: 2310, details: { cache_hit: 'false' } } });
    const rejected: CoordinatorEvent = { unixMs: 0, event: { $case: 'policy', value: { file: '/p.yaml', sha256: 'b'.repeat(64), loadedUnixMs: 0, rejectedError: 'bad' } } };
    expect(formatEventLine(rejected)).to.equal('- policy     REJECTED /p.yaml: bad (previous policy bbbbbbbbbbbb stays in force)');
  });
});
