// The JSON bodies of the console's HTTP API (docs/console.md): proto3 JSON of
// the gRPC messages as ts-proto's `toJSON` writes them (camelCase fields, enums
// as their names, int64/double as numbers, empty lists and zero values left
// out, hence every optional field). Only the fields the console reads.

/** `Node` (ListNodesResponse, node events). */
export interface NodeJson {
  hostname: string;
  ip?: string;
  mac?: string;
  vo?: string;
  /** Physical host it runs on ('' / absent while queued). */
  host?: string;
  /** `NODE_STATE_DEPLOYING` … `NODE_STATE_FAILED`. */
  state?: string;
  /** Current or last operation. */
  operationId?: string;
  sinceUnixMs?: number;
  error?: string;
}

/** `ImageHolding` in a host's facts. */
export interface ImageHoldingJson {
  sha256?: string;
  sizeBytes?: number;
  verifiedBytes?: number;
  complete?: boolean;
}

/** `HostFactsResponse` as the agent last reported it. */
export interface HostFactsJson {
  cpus?: number;
  memoryTotalBytes?: number;
  memoryAvailableBytes?: number;
  memoryCommittedBytes?: number;
  diskTotalBytes?: number;
  diskFreeBytes?: number;
  hypervisor?: string;
  /** sha256 of the complete cached images. */
  cachedImages?: string[];
  runningDomains?: number;
  agentVersion?: string;
  holdings?: ImageHoldingJson[];
  uploadPeers?: number;
  linkMbit?: number;
}

/** `Host` (ListHostsResponse, host events). */
export interface HostJson {
  name: string;
  address?: string;
  /** `HOST_STATE_UP` or `HOST_STATE_DOWN`. */
  state?: string;
  facts?: HostFactsJson;
  lastSeenUnixMs?: number;
  nodes?: number;
  /** Id of the deployment/removal holding the host's slot. */
  activeOperation?: string;
}

/** `Operation`. */
export interface OperationJson {
  id: string;
  /** `OPERATION_KIND_DEPLOY`, `…_DRAIN`, `…_REMOVE`. */
  kind?: string;
  /** `OPERATION_STATE_QUEUED` … `…_RETRYING`. */
  state?: string;
  vo?: string;
  node?: string;
  host?: string;
  attempt?: number;
  error?: string;
  createdUnixMs?: number;
  finishedUnixMs?: number;
  trigger?: string;
}

/** `PhaseEvent` (phase events on the stream): wire names, `PHASE_PT`, `EDGE_END`. */
export interface PhaseEventJson {
  operationId?: string;
  hostname?: string;
  phase?: string;
  edge?: string;
  unixMs?: number;
  durationMs?: number;
  details?: Record<string, string>;
}

/** `PolicyStatus`. */
export interface PolicyStatusJson {
  file?: string;
  sha256?: string;
  loadedUnixMs?: number;
  rejectedError?: string;
}

/** `CoordinatorEvent`: one message of `/api/events`; exactly one of the payload fields is set. */
export interface CoordinatorEventJson {
  unixMs?: number;
  phase?: PhaseEventJson;
  operation?: OperationJson;
  host?: HostJson;
  policy?: PolicyStatusJson;
  node?: NodeJson;
}

/** `VoStatus`. */
export interface VoStatusJson {
  vo: string;
  weight?: number;
  target?: number;
  running?: number;
  deploying?: number;
  draining?: number;
  demand?: number;
  deployFailures?: number;
  deployHeldUntilUnixMs?: number;
  lastDeployError?: string;
}

/** `ImageTransfer`: an image download running now. */
export interface ImageTransferJson {
  host?: string;
  sha256?: string;
  source?: string;
  rateBytesPerSecond?: number;
  sizeBytes?: number;
  verifiedBytes?: number;
  purpose?: string;
  operationId?: string;
  startedUnixMs?: number;
}

/** `CoordinatorCluster` (the parts shown). */
export interface CoordinatorClusterJson {
  store?: string;
  role?: string;
  self?: string;
  leader?: string;
}

/** `StatusResponse` (`/api/status`). */
export interface StatusJson {
  site?: string;
  hostsUp?: number;
  hostsDown?: number;
  poolTotal?: number;
  poolFree?: number;
  queuedOperations?: number;
  runningOperations?: number;
  policy?: PolicyStatusJson;
  vos?: VoStatusJson[];
  startedUnixMs?: number;
  transfers?: ImageTransferJson[];
  cluster?: CoordinatorClusterJson;
}

/** `ListHostsResponse` (`/api/hosts`). */
export interface ListHostsJson {
  hosts?: HostJson[];
}

/** `ListNodesResponse` (`/api/nodes`). */
export interface ListNodesJson {
  nodes?: NodeJson[];
}

/** `PhaseDuration`: `phase` is the wire name (`PHASE_PT`). */
export interface PhaseDurationJson {
  phase?: string;
  durationMs?: number;
}

/** `OperationTiming`. */
export interface OperationTimingJson {
  operation?: OperationJson;
  phases?: PhaseDurationJson[];
  totalMs?: number;
}

/** `TimingsResponse` (`/api/operations?limit=N`). */
export interface TimingsJson {
  operations?: OperationTimingJson[];
}

/** A recorded phase boundary of `/api/operations/{id}`: short names (`PT`), `start`/`end`. */
export interface PhaseMarkJson {
  attempt?: number;
  host?: string;
  phase: string;
  edge: string;
  unixMs?: number;
  durationMs?: number;
  details?: Record<string, string>;
}

/** `/api/operations/{id}`. */
export interface OperationDetailJson {
  operation: OperationJson;
  phases?: PhaseMarkJson[];
  /** The paper's 2007 figures in seconds by short phase name. */
  paper2007?: Record<string, number>;
}

/** One layer (or the total) of `/api/layers` (layerSummaryToJson); null means no deployment ran it. */
export interface LayerStatJson {
  layer: string;
  label: string;
  phases: string[];
  meanMs: number | null;
  medianMs: number | null;
  count: number;
  paperSeconds: number;
}

/** `/api/layers`: the Fig. 3 summary. */
export interface LayerSummaryJson {
  kind: 'layers';
  deployments: number;
  succeeded: number;
  layers: LayerStatJson[];
  total: LayerStatJson & { layers: string[] };
}

/** `/api/whoami`. */
export interface WhoAmIJson {
  name: string;
  via: 'certificate' | 'token';
  role: string;
  site: string;
  coordinator: 'leader' | 'standby' | 'single';
}
