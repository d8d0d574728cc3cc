/** The site events a hook can be named for (the keys of `hooks.events` in the coordinator config). */
export const HOOK_EVENT_NAMES = ['node_deployed', 'node_running', 'drain_started', 'node_removed', 'deployment_failed', 'agent_down'] as const;

/** One of HOOK_EVENT_NAMES. */
export type HookEventName = (typeof HOOK_EVENT_NAMES)[number];

/** Version of the JSON a hook reads on stdin; raised only when a field changes meaning or goes away (new fields may appear). */
export const HOOK_EVENT_VERSION = 1;

/** The VM node an event is about (its pool triple, VO and physical host). */
export interface HookNode {
  hostname: string;
  ip: string;
  mac: string;
  vo: string;
  /** Physical host (agent name) the node runs or ran on; '' if it never got one. */
  host: string;
}

/** The operation (deployment, drain or removal) an event comes from. */
export interface HookOperation {
  id: string;
  kind: 'deploy' | 'drain' | 'remove';
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'retrying';
  /** Attempts started so far (1 for the first). */
  attempt: number;
  /** Why it failed or waits; '' when nothing is wrong. */
  error: string;
  /** manual | policy | recovery */
  trigger: string;
  createdUnixMs: number;
  /** 0 until it ended. */
  finishedUnixMs: number;
}

/** The physical host (agent) an agent_down event is about. */
export interface HookHost {
  name: string;
  /** The address its agent registered (host:port). */
  address: string;
  /** Its last heartbeat. */
  lastSeenUnixMs: number;
}

/**
 * The JSON document a hook reads on stdin (one object, then end of input).
 * Node events carry `node` and `operation`; agent_down carries `host`.
 * Nothing secret is in it: no certificate, key, token or policy content.
 */
export interface HookEvent {
  version: typeof HOOK_EVENT_VERSION;
  event: HookEventName;
  /** When the coordinator saw it, ISO 8601 UTC (e.g. 2025-03-01T12:00:00.000Z). */
  time: string;
  unixMs: number;
  /** The coordinator config's `site`. */
  site: string;
  node?: HookNode;
  operation?: HookOperation;
  host?: HookHost;
}

/** Builds the document of one event; `unixMs` is the time of the site event it comes from. */
export function hookEvent(event: HookEventName, site: string, unixMs: number, parts: Pick<HookEvent, 'node' | 'operation' | 'host'>): HookEvent {
  return { version: HOOK_EVENT_VERSION, event, time: new Date(unixMs).toISOString(), unixMs, site, ...parts };
}
