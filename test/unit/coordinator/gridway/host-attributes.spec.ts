import { expect } from 'chai';
import { stringify } from 'yaml';
import {
  describeNode,
  hostAttributes,
  nodeAvailability,
  voFactsFromPolicy,
  type NodeAvailability,
  type NodeDescription,
} from '../../../../coordinator/gridway/host-attributes.js';
import { formatAttributes, parseAttributes, type HostAttribute } from '../../../../coordinator/gridway/im-attributes.js';
import { monitorSuccess, parseReply } from '../../../../coordinator/gridway/im-protocol.js';
import { NodeState, type Node } from '../../../../shared/gen/vonode/v1/coordinator.js';

const SHA = 'cbe243cb5c0622dcd70019ec97d87c71d2000eaf44f6ecab2d1c51963aaeca1b';
const appliance = { disk: { url: 'http://10.0.0.1/vo.qcow2', sha256: SHA } };
const POLICY = stringify({
  vos: {
    bio: { weight: 2, max: 10, queue: 'bio.q', vm: { vcpus: 2, memory: '1GiB' }, appliance },
    fusion: { weight: 5, max: 20, queue: 'fusion.q', appliance },
  },
});
const OPTIONS = { lrmsType: 'sge', cpuMhz: 2400 };

const node = (over: Partial<NodeDescription> = {}): NodeDescription => ({
  hostname: 'vwn-001', vo: 'bio', availability: 'running', physicalHost: 'phys-a',
  voFacts: { queue: 'bio.q', vcpus: 2, memoryMb: 1024 }, ...over,
});

/** The attributes as NAME or NAME[i] → value, after a round trip through the reply format. */
function asMap(attrs: HostAttribute[]): Record<string, number | string> {
  const back = parseAttributes(formatAttributes(attrs));
  return Object.fromEntries(back.map((a) => [a.index === undefined ? a.name : `${a.name}[${a.index}]`, a.value]));
}

describe('coordinator/gridway/host-attributes', () => {
  it('describes a running node as one host with one free node in its VO queue', () => {
    expect(asMap(hostAttributes(node(), OPTIONS))).to.deep.equal({
      HOSTNAME: 'vwn-001', ARCH: 'x86_64', OS_NAME: 'Linux', CPU_MHZ: 2400, CPU_SMP: 2, NODECOUNT: 1,
      SIZE_MEM_MB: 1024, FREE_MEM_MB: 1024, LRMS_NAME: 'vonode:bio', LRMS_TYPE: 'sge',
      'QUEUE_NAME[0]': 'bio.q', 'QUEUE_NODECOUNT[0]': 1, 'QUEUE_FREENODECOUNT[0]': 1, 'QUEUE_STATUS[0]': 'Production',
      VONODE_VO: 'bio', VONODE_HOST: 'phys-a',
    });
  });

  // Only a running node offers a free node; gwd never removes a host, so a removed one shows none.
  const table: Array<[NodeAvailability, number, number, number, string]> = [
    ['running', 1, 1, 1024, 'Production'],
    ['draining', 1, 0, 0, 'Draining'],
    ['removing', 1, 0, 0, 'Closed'],
    ['deploying', 0, 0, 0, 'Closed'],
    ['failed', 0, 0, 0, 'Closed'],
    ['removed', 0, 0, 0, 'Closed'],
  ];
  for (const [availability, nodes, free, freeMem, status] of table) {
    it(`${availability}: NODECOUNT=${nodes} QUEUE_FREENODECOUNT[0]=${free} QUEUE_STATUS[0]="${status}"`, () => {
      const m = asMap(hostAttributes(node({ availability }), OPTIONS));
      expect([m['NODECOUNT'], m['QUEUE_NODECOUNT[0]'], m['QUEUE_FREENODECOUNT[0]'], m['FREE_MEM_MB'], m['QUEUE_STATUS[0]']]).to.deep.equal([nodes, nodes, free, freeMem, status]);
      expect(m['LRMS_NAME'], 'a host without LRMS_NAME is never matched').to.equal('vonode:bio');
    });
  }

  it('a node of a VO that left the policy is closed, queue named after the VO, nothing guessed', () => {
    const withoutVo = node();
    delete withoutVo.voFacts;
    const m = asMap(hostAttributes(withoutVo, OPTIONS));
    expect(m).to.include({ 'QUEUE_NAME[0]': 'bio', 'QUEUE_FREENODECOUNT[0]': 0, 'QUEUE_STATUS[0]': 'Closed', CPU_SMP: 0, SIZE_MEM_MB: 0 });
  });

  it('takes LRMS_TYPE and CPU_MHZ from the options (rounded: gwd reads no floats)', () => {
    const m = asMap(hostAttributes(node(), { lrmsType: 'slurm', cpuMhz: 2399.6 }));
    expect(m).to.include({ LRMS_TYPE: 'slurm', CPU_MHZ: 2400 });
  });

  it('adds the hypervisor when the host facts are known, and leaves out an unknown physical host', () => {
    const facts = { hostname: 'phys-a', cpus: 4, memoryTotalBytes: 0, memoryAvailableBytes: 0, memoryCommittedBytes: 0, diskTotalBytes: 0, diskFreeBytes: 0, hypervisor: 'qemu', cachedImages: [], runningDomains: 1, agentVersion: '0.1.0', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0 };
    expect(asMap(hostAttributes(node({ hostFacts: facts }), OPTIONS))).to.include({ VONODE_HYPERVISOR: 'qemu' });
    expect(asMap(hostAttributes(node({ physicalHost: '' }), OPTIONS))).to.not.have.property('VONODE_HOST');
  });

  it('every availability yields a MONITOR line gwd reads', () => {
    for (const [availability] of table) {
      const line = monitorSuccess('12', hostAttributes(node({ availability }), OPTIONS));
      expect(parseReply(line).result).to.equal('SUCCESS');
    }
  });

  it('maps wire node states, unknown ones to failed (never schedulable)', () => {
    const cases: Array<[NodeState, NodeAvailability]> = [
      [NodeState.NODE_STATE_RUNNING, 'running'],
      [NodeState.NODE_STATE_DRAINING, 'draining'],
      [NodeState.NODE_STATE_REMOVING, 'removing'],
      [NodeState.NODE_STATE_DEPLOYING, 'deploying'],
      [NodeState.NODE_STATE_FAILED, 'failed'],
      [NodeState.NODE_STATE_UNSPECIFIED, 'failed'],
      [99 as NodeState, 'failed'],
    ];
    for (const [state, availability] of cases) expect(nodeAvailability(state), String(state)).to.equal(availability);
  });

  describe('voFactsFromPolicy', () => {
    it('reads each VO\'s queue and VM size, defaults applied', () => {
      expect([...voFactsFromPolicy(POLICY)]).to.deep.equal([
        ['bio', { queue: 'bio.q', vcpus: 2, memoryMb: 1024 }],
        ['fusion', { queue: 'fusion.q', vcpus: 1, memoryMb: 512 }],
      ]);
    });

    const refused: Array<[string, string]> = [['not YAML', 'vos: [unclosed'], ['an invalid policy', 'vos: {}'], ['empty text', '']];
    for (const [what, text] of refused) {
      it(`gives no VO for ${what}`, () => {
        expect(voFactsFromPolicy(text).size).to.equal(0);
      });
    }
  });

  it('describeNode joins a wire node with its VO facts and host facts', () => {
    const wire: Node = { hostname: 'vwn-004', ip: '10.0.0.4', mac: '52:54:00:00:00:04', vo: 'fusion', host: 'phys-b', state: NodeState.NODE_STATE_RUNNING, operationId: 'op', sinceUnixMs: 0, error: '' };
    const d = describeNode(wire, 'running', voFactsFromPolicy(POLICY));
    expect(d).to.deep.equal({ hostname: 'vwn-004', vo: 'fusion', availability: 'running', physicalHost: 'phys-b', voFacts: { queue: 'fusion.q', vcpus: 1, memoryMb: 512 } });
  });
});
