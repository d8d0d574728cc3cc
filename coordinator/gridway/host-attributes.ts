// What GridWay is told about one vonode node in a MONITOR reply. Each node is
// its own GridWay "host" with one node and one queue (its VO's batch queue),
// so the meta-scheduler can match a job to a VO's nodes. Pure: the data comes
// from the coordinator (ListNodes, ListHosts, GetPolicy) through the caller.
import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import { NodeState, type Node } from '../../shared/gen/vonode/v1/coordinator.js';
import { checkPolicyText } from '../policy/policy-check.js';
import type { HostAttribute } from './im-attributes.js';

/** What the policy says about a VO's nodes. */
export interface VoFacts {
  /** The VO's batch queue (QUEUE_NAME[0]). */
  queue: string;
  /** vCPUs of each node (CPU_SMP). */
  vcpus: number;
  /** Memory of each node in MiB (SIZE_MEM_MB). */
  memoryMb: number;
}

/**
 * Where a node stands for the meta-scheduler. `removed` is a node gwd was
 * told about that the coordinator no longer has: gwd never forgets a host,
 * so it keeps being monitored and must show no free node.
 */
export type NodeAvailability = 'running' | 'draining' | 'removing' | 'deploying' | 'failed' | 'removed';

/** How the MAD describes nodes; fixed per MAD process (its command line). */
export interface AttributeOptions {
  /** LRMS_TYPE, the batch system the VO queues belong to (e.g. "sge", "slurm"). */
  lrmsType: string;
  /** CPU_MHZ; 0 when unknown (the coordinator does not measure it). */
  cpuMhz: number;
}

/** Everything known about one node when a MONITOR comes. */
export interface NodeDescription {
  /** Pool hostname. */
  hostname: string;
  /** Its VO. */
  vo: string;
  /** Where it stands (see NodeAvailability). */
  availability: NodeAvailability;
  /** The VO's policy; undefined when the VO has left the policy in force. */
  voFacts?: VoFacts;
  /** The physical host's name, '' when unknown. */
  physicalHost: string;
  /** The physical host's facts from its agent, when it has registered. */
  hostFacts?: HostFactsResponse;
}

interface Capacity {
  nodes: number;
  free: number;
  status: string;
}

// GLUE-style queue states; only a running node offers a free node.
const CAPACITY: Record<NodeAvailability, Capacity> = {
  running: { nodes: 1, free: 1, status: 'Production' },
  draining: { nodes: 1, free: 0, status: 'Draining' },
  removing: { nodes: 1, free: 0, status: 'Closed' },
  deploying: { nodes: 0, free: 0, status: 'Closed' },
  failed: { nodes: 0, free: 0, status: 'Closed' },
  removed: { nodes: 0, free: 0, status: 'Closed' },
};

/** The wire NodeState as a NodeAvailability (unknown states count as failed: never schedulable). */
export function nodeAvailability(state: NodeState): NodeAvailability {
  switch (state) {
    case NodeState.NODE_STATE_RUNNING:
      return 'running';
    case NodeState.NODE_STATE_DRAINING:
      return 'draining';
    case NodeState.NODE_STATE_REMOVING:
      return 'removing';
    case NodeState.NODE_STATE_DEPLOYING:
      return 'deploying';
    default:
      return 'failed';
  }
}

/**
 * The MONITOR attributes of a node: HOSTNAME, ARCH, OS_NAME, CPU_MHZ,
 * CPU_SMP, NODECOUNT, SIZE_MEM_MB, FREE_MEM_MB, LRMS_NAME ("vonode:<vo>"),
 * LRMS_TYPE, QUEUE_NAME[0] (the VO's queue; the VO name if the VO left the
 * policy), QUEUE_NODECOUNT[0], QUEUE_FREENODECOUNT[0] (1 only when running),
 * QUEUE_STATUS[0], and generic VONODE_VO, VONODE_HOST, VONODE_HYPERVISOR
 * for REQUIREMENTS. A node of a VO that left the policy offers no free node.
 * Never throws; the reply formatter validates the values.
 */
export function hostAttributes(node: NodeDescription, options: AttributeOptions): HostAttribute[] {
  const cap = node.voFacts ? CAPACITY[node.availability] : { ...CAPACITY[node.availability], free: 0, status: 'Closed' };
  const vm = node.voFacts ?? { queue: node.vo, vcpus: 0, memoryMb: 0 };
  const attrs: HostAttribute[] = [
    { name: 'HOSTNAME', value: node.hostname },
    { name: 'ARCH', value: 'x86_64' },
    { name: 'OS_NAME', value: 'Linux' },
    { name: 'CPU_MHZ', value: Math.max(0, Math.round(options.cpuMhz)) },
    { name: 'CPU_SMP', value: vm.vcpus },
    { name: 'NODECOUNT', value: cap.nodes },
    { name: 'SIZE_MEM_MB', value: vm.memoryMb },
    { name: 'FREE_MEM_MB', value: cap.free > 0 ? vm.memoryMb : 0 },
    { name: 'LRMS_NAME', value: `vonode:${node.vo}` },
    { name: 'LRMS_TYPE', value: options.lrmsType },
    { name: 'QUEUE_NAME', index: 0, value: vm.queue },
    { name: 'QUEUE_NODECOUNT', index: 0, value: cap.nodes },
    { name: 'QUEUE_FREENODECOUNT', index: 0, value: cap.free },
    { name: 'QUEUE_STATUS', index: 0, value: cap.status },
    { name: 'VONODE_VO', value: node.vo },
  ];
  if (node.physicalHost) attrs.push({ name: 'VONODE_HOST', value: node.physicalHost });
  if (node.hostFacts?.hypervisor) attrs.push({ name: 'VONODE_HYPERVISOR', value: node.hostFacts.hypervisor });
  return attrs;
}

/**
 * Queue and VM size of every VO in the policy text GetPolicy returns (checked
 * with the coordinator's own policy check). Returns an empty map for a text
 * that does not pass: the nodes are then described as closed, never guessed.
 */
export function voFactsFromPolicy(yaml: string): Map<string, VoFacts> {
  const result = checkPolicyText(yaml, '(GetPolicy)');
  if (!result.ok) return new Map();
  return new Map(result.policy.vos.map((v) => [v.name, { queue: v.queue, vcpus: v.vm.vcpus, memoryMb: v.vm.memoryMb }]));
}

/** A NodeDescription from the coordinator's view of a node (and its VO's facts and host). */
export function describeNode(node: Node, availability: NodeAvailability, vos: ReadonlyMap<string, VoFacts>, hostFacts?: HostFactsResponse): NodeDescription {
  const voFacts = vos.get(node.vo);
  return {
    hostname: node.hostname, vo: node.vo, availability, physicalHost: node.host,
    ...(voFacts ? { voFacts } : {}), ...(hostFacts ? { hostFacts } : {}),
  };
}
