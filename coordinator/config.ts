import { z } from 'zod';
import { loadYamlConfig, parseYamlConfig } from '../shared/config/load-yaml.js';
import { durationWithin, intWithin } from '../shared/config/units.js';
import { validateHostname, validateIpv4, validateMac } from '../shared/validation.js';
import { HOOK_EVENT_NAMES } from './hooks/hook-event.js';

const absPath = z.string().regex(/^\/[A-Za-z0-9._/+@-]*$/, 'must be an absolute path of [A-Za-z0-9._/+@-]');
/** A TCP port in host:port is at most 65535 (0: any free port). */
const portInRange = (address: string): boolean => address.startsWith('unix:') || Number(address.slice(address.lastIndexOf(':') + 1)) <= 65_535;
const listenAddress = z
  .string()
  .regex(/^([^\s:/]+:\d{1,5}|unix:\/[A-Za-z0-9._/+@-]+)$/, 'must be host:port or unix:/absolute/path')
  .refine(portInRange, 'the port must be from 0 to 65535');

// Bounds of the numeric fields: each duration drives a timer (and so stays
// below Node's 24.8-day timer limit), each count a loop or a queue.
const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
/** An agent phase may run from 100ms to 7 days (a slow PT over a thin link takes hours, never weeks). */
const phaseTimeout = durationWithin(100, WEEK);

/** Runs a shared validator inside zod so the error names the field the same way. */
const checked = (fn: (field: string, v: string) => string) =>
  z.string().transform((v, ctx) => {
    try {
      return fn('value', v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^invalid value: /, '') });
      return z.NEVER;
    }
  });

/** An etcd client URL (http or https, host:port, nothing after). */
const etcdEndpoint = z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+:\d{1,5}$/, 'must be http(s)://host:port').refine(portInRange, 'the port must be from 1 to 65535');

/** The shared state of an HA site on etcd (coordinator/store/etcd, coordinator/ha). */
const etcdStoreSchema = z.strictObject({
  /** Client URLs of the etcd members. */
  endpoints: z.array(etcdEndpoint).min(1),
  /** Key prefix of this site's state; two sites sharing an etcd cluster need two prefixes. */
  prefix: z.string().regex(/^\/[A-Za-z0-9._/-]*\/$/, 'must start and end with / and use [A-Za-z0-9._/-]').default('/vonode/'),
  /** Client TLS towards etcd (the members' CA, this coordinator's pair). */
  tls: z.strictObject({ ca: absPath, cert: absPath, key: absPath }).optional(),
  /** Leadership lease: a leader that stops renewing it is replaced after this long (whole seconds, 1 to 60 s). */
  leaseTtl: durationWithin(1000, 60_000).refine((ms) => ms % 1000 === 0, 'must be whole seconds (etcd leases count seconds)').default(2000),
  /** etcd's --max-txn-ops (the members' setting; 128 by default): bigger transactions are journaled. */
  maxTxnOps: intWithin(8, 1_000_000).default(128),
});

const poolEntry = z.strictObject({
  hostname: checked(validateHostname),
  ip: checked(validateIpv4),
  mac: checked(validateMac),
});

const phaseTimeouts = z
  .strictObject({
    CR: phaseTimeout.default(30_000),
    PT: phaseTimeout.default(1_800_000),
    DA: phaseTimeout.default(30_000),
    VMB: phaseTimeout.default(120_000),
    VMR: phaseTimeout.default(300_000),
    SR: phaseTimeout.default(120_000),
    PUB: phaseTimeout.default(600_000),
    GW: phaseTimeout.default(60_000),
  })
  .default({ CR: 30_000, PT: 1_800_000, DA: 30_000, VMB: 120_000, VMR: 300_000, SR: 120_000, PUB: 600_000, GW: 60_000 });

const commandPrefix = z.array(z.string().min(1)).optional();

/** A hook executable: an absolute path to a file (no `.` or `..` segment, no trailing /). */
const hookPath = absPath.refine((p) => !/(^|\/)\.\.?(\/|$)/.test(p) && !p.endsWith('/'), 'must name a file by its absolute path (no . or .. segment, no trailing /)');
const hookPaths = z.array(hookPath).max(16).default([]);
const NO_HOOKS = Object.fromEntries(HOOK_EVENT_NAMES.map((name) => [name, []])) as unknown as Record<(typeof HOOK_EVENT_NAMES)[number], string[]>;

/** Executables run on site events (coordinator/hooks), each given the event as JSON on stdin. */
const hooksSchema = z.strictObject({
  /** A hook still running after this long gets SIGTERM, then SIGKILL 5 s later (100ms to 1h). */
  timeout: durationWithin(100, HOUR).default(30_000),
  /** Hooks running at once at most (1 to 64). */
  maxConcurrent: intWithin(1, 64).default(4),
  /** Hook runs waiting at most (1 to 100000); when full the oldest waiting one is dropped, with a warning. */
  maxQueued: intWithin(1, 100_000).default(1000),
  /** Executables per event, run in the order given (at most 16 per event). */
  events: z
    .strictObject({
      node_deployed: hookPaths,
      node_running: hookPaths,
      drain_started: hookPaths,
      node_removed: hookPaths,
      deployment_failed: hookPaths,
      agent_down: hookPaths,
    })
    .default(NO_HOOKS),
});

/**
 * The APEL writer (coordinator/accounting/apel-writer.ts): every `interval`
 * (aligned to the epoch, e.g. 1h = each UTC hour), one `APEL-cloud-message:
 * v0.4` with the VMs of that period, into `dir` in the layout of the SSM
 * sender's outgoing queue (python-dirq QueueSimple).
 */
const apelSchema = z.strictObject({
  /** The SSM sender's outgoing directory (its `[messaging] path`), e.g. /var/spool/apel/outgoing. */
  dir: absPath,
  /** Length of a period, 1s to 1 week (default 1h). */
  interval: durationWithin(1000, WEEK).default(HOUR),
  /** GOCDB site name (SiteName; default: `site`). */
  siteName: z.string().min(1).max(255).regex(/^[^\r\n]+$/, 'must be one line').optional(),
  /** The cloud resource within the site (CloudComputeService; default: the advertised or listen address). */
  cloudComputeService: z.string().min(1).max(255).regex(/^[^\r\n]+$/, 'must be one line').optional(),
  /** CloudType (default vonode). */
  cloudType: z.string().min(1).max(255).regex(/^[^\r\n]+$/, 'must be one line').default('vonode'),
});

const batchSystemSchema = z.strictObject({
  /** Which batch system the VO queues live in. */
  kind: z.enum(['sge', 'slurm']),
  /** How often demand is read and targets recomputed. */
  scalingInterval: durationWithin(100, HOUR).default(2000),
  sge: z
    .strictObject({
      root: absPath.optional(),
      cell: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('default'),
      binDir: absPath.optional(),
      /** Host of each VO queue's 0-slot disabled placeholder instance (usually the qmaster's). */
      placeholderHost: checked(validateHostname),
      /** argv run before every SGE command (e.g. to enter the frontend's network namespace). */
      commandPrefix,
    })
    .optional(),
  slurm: z.strictObject({ conf: absPath.optional(), binDir: absPath.optional(), commandPrefix }).optional(),
}).refine((b) => b[b.kind] !== undefined, { message: 'the section of the chosen kind (sge or slurm) is required' });

/** The coordinator's YAML configuration (see docs/coordinator.example.yaml). */
export const coordinatorConfigSchema = z
  .strictObject({
    /** Site name, shown by `vonode status` and published to the information system. */
    site: z.string().regex(/^[A-Za-z0-9._-]+$/).default('vonode-site'),
    /** gRPC listen address for agents and the CLI. */
    listen: listenAddress.default('127.0.0.1:7080'),
    /** SQLite database (WAL) holding leases, operations and phases (the embedded store, when `store.etcd` is absent). */
    stateDb: absPath.default('/var/lib/vonode-coordinator/state.db'),
    /**
     * Where the state lives: absent or `{}` = the SQLite file `stateDb` (one coordinator); `{ etcd: ... }`
     * = shared on etcd, with leader election among every coordinator configured so (HA).
     */
    store: z.strictObject({ etcd: etcdStoreSchema.optional() }).default({}),
    /** The address agents, the CLI and the other coordinators reach this one at (required with store.etcd; default: listen). */
    advertise: listenAddress.optional(),
    /** VO policy file, watched and reloaded live. */
    policyFile: absPath,
    /** The pre-set (hostname, IP, MAC) triples VMs are given; never split. */
    pool: z.array(poolEntry).min(1),
    agents: z
      .strictObject({
        /** How often agents must heartbeat (50ms to 10m; sent to agents as uint32 ms). */
        heartbeatInterval: durationWithin(50, 10 * 60_000).default(1000),
        /** Silence after which an agent is marked down (100ms to 1h). */
        downAfter: durationWithin(100, HOUR).default(3000),
      })
      .default({ heartbeatInterval: 1000, downAfter: 3000 }),
    deploy: z
      .strictObject({
        /** Ceiling on deployments that must download their image (cache misses) at once (1 to 1000); the links (transfers) decide below it. */
        maxConcurrentTransfers: intWithin(1, 1000).default(64),
        /** Attempts per deployment, each on a different host when one is available (1 to 100). */
        maxAttempts: intWithin(1, 100).default(3),
        /** Longest each agent phase may take before the attempt is abandoned and cleaned up. */
        phaseTimeouts,
        /** Graceful guest shutdown before the agent destroys it (0 to 1h; sent as whole seconds). */
        shutdownTimeout: durationWithin(0, HOUR).default(30_000),
      })
      .default({ maxConcurrentTransfers: 64, maxAttempts: 3, phaseTimeouts: phaseTimeouts.parse(undefined), shutdownTimeout: 30_000 }),
    /**
     * The site's links, for bandwidth-aware admission of image downloads
     * (coordinator/transfers/transfer-scheduler.ts): no declared link is
     * given more downloads than its rate.
     */
    transfers: z
      .strictObject({
        /** The image repository's uplink, Mbit/s. */
        repositoryMbit: intWithin(1, 10_000_000).default(1000),
        /** A host's link when neither `hosts` nor the agent's facts say, Mbit/s. */
        defaultHostMbit: intWithin(1, 10_000_000).default(1000),
        /** Declared links per host name, Mbit/s. */
        hosts: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, 'must be a host name'), intWithin(1, 10_000_000)).default({}),
        /** Most downloads a host holding an image serves at once. */
        peerUploads: intWithin(1, 64).default(2),
        /** A download starts only at this rate or more, Mbit/s. */
        minRateMbit: intWithin(1, 10_000_000).default(10),
      })
      .default({ repositoryMbit: 1000, defaultHostMbit: 1000, hosts: {}, peerUploads: 2, minRateMbit: 10 }),
    /** The batch system of the VO queues: demand-driven scaling, SR (registration) and DRN (drain). Off when absent. */
    batchSystem: batchSystemSchema.optional(),
    /** The site BDII: PUB ends when it publishes a new node. Off when absent. */
    infosys: z
      .strictObject({
        ldapUrl: z.string().regex(/^ldaps?:\/\/[^\s/]+\/?$/, 'must be ldap://host:port'),
        base: z.string().default('GLUE2GroupID=resource,o=glue'),
        pollInterval: durationWithin(10, 60_000).default(250),
      })
      .optional(),
    /** GridWay: GW ends when vonode-gw-im-mad reports gwd holds a free slot for the node (a MONITOR answer). Off when absent. */
    gridway: z.strictObject({ waitForMad: z.boolean().default(true) }).optional(),
    /** Prometheus metrics over HTTP (host:port); off when absent. */
    metrics: z.strictObject({ listen: z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port').refine(portInRange, 'the port must be from 0 to 65535') }).optional(),
    /**
     * The read-only web console (coordinator/console, docs/console.md) on its own host:port, HTTPS with `tls`;
     * callers show a site certificate of a reading role or a token of `tokensFile`. Off when absent.
     */
    console: z
      .strictObject({
        listen: z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port').refine(portInRange, 'the port must be from 0 to 65535'),
        /** Bearer tokens ({tokens: [{name, sha256}]}: hashes only), reloaded on change; absent: site certificates only. */
        tokensFile: absPath.optional(),
        /** The built console (index.html, assets/); default: dist/console of the installed code. */
        assetsDir: absPath.optional(),
      })
      .optional(),
    /** Event hooks (coordinator/hooks): executables run with the event as JSON on stdin, by the leader only. Off when absent. */
    hooks: hooksSchema.optional(),
    /** Usage accounting (coordinator/accounting): `apel` writes EGI/APEL cloud usage messages for the SSM sender, by the leader only. Off when absent. */
    accounting: z.strictObject({ apel: apelSchema.optional() }).optional(),
    /** Mutual TLS; without it the coordinator needs --insecure. */
    /** Mutual TLS: the coordinator's certificate must carry the coordinator role; `crl` (optional) is the site CRL, reloaded on change. */
    tls: z.strictObject({ ca: absPath, cert: absPath, key: absPath, crl: absPath.optional() }).optional(),
  })
  .superRefine((c, ctx) => {
    for (const key of ['hostname', 'ip', 'mac'] as const) {
      const seen = new Set<string>();
      c.pool.forEach((p, i) => {
        if (seen.has(p[key])) ctx.addIssue({ code: 'custom', path: ['pool', i, key], message: `duplicate ${key} ${p[key]}: every triple must be unique` });
        seen.add(p[key]);
      });
    }
    if (c.store.etcd && !c.advertise) {
      ctx.addIssue({ code: 'custom', path: ['advertise'], message: 'is required with store.etcd: the other coordinators send clients to this address when this one leads' });
    }
    if (c.agents.downAfter <= c.agents.heartbeatInterval) {
      ctx.addIssue({ code: 'custom', path: ['agents', 'downAfter'], message: 'must be longer than agents.heartbeatInterval' });
    }
  });

/** Validated coordinator configuration: defaults applied, durations in ms. */
export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
/** One pool triple. */
export type PoolEntry = CoordinatorConfig['pool'][number];

/** Reads and validates the coordinator config. Throws ConfigError naming each bad field. */
export function loadCoordinatorConfig(file: string): Promise<CoordinatorConfig> {
  return loadYamlConfig(coordinatorConfigSchema, file);
}

/** Validates coordinator config YAML text. Throws ConfigError. */
export function parseCoordinatorConfig(text: string, file = '<inline>'): CoordinatorConfig {
  return parseYamlConfig(coordinatorConfigSchema, text, file);
}
