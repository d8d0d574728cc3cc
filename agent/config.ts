import { z } from 'zod';
import { loadYamlConfig, parseYamlConfig } from '../shared/config/load-yaml.js';
import { durationWithin, intWithin, sizeWithin } from '../shared/config/units.js';

const HOUR = 3_600_000;
const GiB = 1024 ** 3;
import { sourcePrefixProblem } from './images/source-policy.js';

const absPath = z.string().regex(/^\/[A-Za-z0-9._/+@-]*$/, 'must be an absolute path of [A-Za-z0-9._/+@-]');
const bridgeName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a network interface name (≤ 15 chars)');

const qemuSchema = z.strictObject({
  /** QEMU binary. */
  binary: z.string().default('qemu-system-x86_64'),
  /** tcg here (KVM guests hang on these machines); kvm on real hosts. */
  accel: z.enum(['tcg', 'kvm']).default('tcg'),
  machine: z.string().regex(/^[a-z0-9.-]+$/).default('pc'),
  bridge: bridgeName.default('br0'),
});

const libvirtSchema = z.strictObject({
  uri: z.string().default('qemu:///system'),
  domainType: z.enum(['kvm', 'qemu', 'xen']).default('kvm'),
  bridge: bridgeName.default('br0'),
});

const xenSchema = z.strictObject({
  xl: z.string().default('xl'),
  type: z.enum(['pvh', 'pv', 'hvm']).default('pvh'),
  bridge: bridgeName.default('xenbr0'),
});

/** The simulated driver boots nothing: it plays the guest for coordinator tests and benchmarks. */
const simulatedSchema = z.strictObject({
  /** create → running. */
  startDelay: durationWithin(0, HOUR).default(50),
  /** running → the simulated guest takes its DHCP lease. */
  bootDelay: durationWithin(0, HOUR).default(300),
  /** dnsmasq-format lease file the simulated guest appends to; defaults to dhcp.dnsmasq.leaseFile. */
  leaseFile: absPath.optional(),
  /** Every start fails with UNAVAILABLE (tests retry-elsewhere). */
  failStart: z.boolean().default(false),
  /**
   * Plays what the guest's own boot would start once it has its lease (e.g.
   * an SGE execd in a namespace named after it); `{hostname}`, `{ip}` and
   * `{mac}` in the arguments are replaced. Run as an argument array.
   */
  guestCommand: z.array(z.string().min(1)).min(1).optional(),
  /** Plays the guest's halt (run at shutdown and destroy), with the same placeholders. */
  haltCommand: z.array(z.string().min(1)).min(1).optional(),
});

const hypervisorSchema = z.strictObject({
  /** Which driver runs the domains; `simulated` boots nothing (coordinator tests and benchmarks only). */
  driver: z.enum(['qemu', 'libvirt', 'xen', 'simulated']).default('qemu'),
  qemu: qemuSchema.default(qemuSchema.parse({})),
  libvirt: libvirtSchema.default(libvirtSchema.parse({})),
  xen: xenSchema.default(xenSchema.parse({})),
  simulated: simulatedSchema.default(simulatedSchema.parse({})),
});

const dnsmasqSchema = z.strictObject({
  hostsDir: absPath,
  leaseFile: absPath,
  logFile: absPath.optional(),
  loadTimeout: durationWithin(100, 10 * 60_000).default(5000),
  /** dnsmasq's --pid-file: removals SIGHUP it so it forgets the reservation (strongly advised when nodes move between hosts). */
  pidFile: absPath.optional(),
});

const iscSchema = z.strictObject({
  hostsFile: absPath,
  mainConfig: absPath,
  logFile: absPath,
  reloadCommand: z.array(z.string()).min(1),
  dhcpd: z.string().default('dhcpd'),
});

const dhcpSchema = z
  .strictObject({
    backend: z.enum(['dnsmasq', 'isc-dhcpd']).default('dnsmasq'),
    dnsmasq: dnsmasqSchema.optional(),
    iscDhcpd: iscSchema.optional(),
  })
  .refine((d) => (d.backend === 'dnsmasq' ? d.dnsmasq : d.iscDhcpd) !== undefined, {
    message: 'the section of the chosen backend (dnsmasq or iscDhcpd) is required',
  });

/** One images.sources entry (agent/images/source-policy.ts says what is allowed). */
const imageSourcePrefix = z.string().superRefine((v, ctx) => {
  const problem = sourcePrefixProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${v} ${problem}` });
});

/** The agent's certificate must carry the agent role and name this host (CN = hostName); `crl` is the site CRL, reloaded on change. */
const tlsSchema = z.strictObject({ ca: absPath, cert: absPath, key: absPath, crl: absPath.optional() });

const grpcAddress = z
  .string()
  .regex(/^([^\s:/]+:\d{1,5}|unix:\/[A-Za-z0-9._/+@-]+)$/, 'must be host:port or unix:/absolute/path');

/**
 * Where the agent registers; the coordinator decides the heartbeat interval.
 * Exactly one of `address` (one coordinator) and `addresses` (every
 * coordinator of an HA site: the agent follows the leader among them).
 */
const coordinatorSchema = z
  .strictObject({
    /** The coordinator's gRPC address. */
    address: grpcAddress.optional(),
    /** Every coordinator's gRPC address (HA on etcd); requests go to the leader, found by asking them in turn. */
    addresses: z.array(grpcAddress).min(1, 'must list at least one coordinator address').optional(),
    /** Address the coordinator dials back to reach this agent's AgentService (required: `listen` may be 0.0.0.0 or a port 0). */
    advertise: grpcAddress,
  })
  .superRefine((c, ctx) => {
    if (c.address !== undefined && c.addresses !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['addresses'], message: 'give either address (one coordinator) or addresses (every coordinator of an HA site), not both' });
    } else if (c.address === undefined && c.addresses === undefined) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'is required: the coordinator\'s host:port, or addresses: [every coordinator of an HA site]' });
    }
    const seen = new Set<string>();
    for (const [i, a] of (c.addresses ?? []).entries()) {
      if (seen.has(a)) ctx.addIssue({ code: 'custom', path: ['addresses', i], message: `${a} is listed twice` });
      seen.add(a);
    }
  });

/** The coordinator section as validated. */
export type CoordinatorSection = z.output<typeof coordinatorSchema>;

/** Every coordinator address of a validated coordinator section, in the order given (one for `address`). */
export function coordinatorAddresses(section: CoordinatorSection): string[] {
  return section.addresses ?? (section.address !== undefined ? [section.address] : []);
}

/**
 * The peer endpoint: this agent serves the verified images and pieces of its
 * cache to the site's other agents (HTTPS with the agent's certificate; needs
 * tls) and takes pieces from the peers the coordinator names.
 */
const peerSchema = z.strictObject({
  /** host:port the peer endpoint listens on. */
  listen: z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port'),
  /** URL other agents reach it at: https://host:port (the host must be in this agent's certificate). */
  advertise: z.string().regex(/^https:\/\/[A-Za-z0-9.-]+:\d{1,5}$/, 'must be https://host:port'),
  /** Most peers served at once: the share of this host's link given to uploads. */
  maxUploads: intWithin(1, 64).default(2),
  /** This host's link speed, Mbit/s, as the coordinator should plan with (default: the NIC's speed). */
  linkMbit: intWithin(1, 10_000_000).optional(),
});

/** The agent's YAML configuration (see docs/agent.example.yaml for every field). */
export const agentConfigSchema = z.strictObject({
  /** gRPC listen address: host:port, or unix:/path/to/socket (reachable across network namespaces). */
  listen: grpcAddress.default('127.0.0.1:7070'),
  /** Name this host reports (defaults to the OS hostname). */
  hostName: z.string().optional(),
  /** Where the agent keeps domain records, instance disks and run directories. */
  stateDir: absPath.default('/var/lib/vonode-agent'),
  images: z
    .strictObject({
      dir: absPath.optional(),
      /** LRU byte budget of the image cache. */
      budget: sizeWithin(64 * 1024 ** 2, 1024 ** 5).default(20 * GiB),
      /**
       * URL prefixes images may be fetched from (http, https, or file:/// for a
       * local directory), each ending with '/'. Empty: the agent fetches nothing.
       */
      sources: z.array(imageSourcePrefix).default([]),
      /** A partial download untouched this long is deleted (when the cache opens or a download starts). */
      partialTtl: durationWithin(60_000, 7 * 24 * HOUR).default(15 * 60_000),
      /** Piece size of the manifests this agent computes for images it fetched whole. */
      pieceSize: sizeWithin(64 * 1024, 64 * 1024 ** 2).default(1024 ** 2),
      peer: peerSchema.optional(),
    })
    .default({ budget: 20 * 1024 ** 3, sources: [], partialTtl: 15 * 60_000, pieceSize: 1024 ** 2 }),
  hypervisor: hypervisorSchema.default(hypervisorSchema.parse({})),
  dhcp: dhcpSchema,
  deploy: z
    .strictObject({
      /** Longest a guest may take from running to holding its lease. */
      vmrTimeout: durationWithin(1000, 24 * HOUR).default(180_000),
      /** Graceful shutdown time before a removal destroys the guest. */
      shutdownTimeout: durationWithin(0, HOUR).default(30_000),
      /** Memory kept free for the host itself when admitting a VM. */
      memoryReserve: sizeWithin(0, 1024 ** 4).default(256 * 1024 ** 2),
    })
    .default({ vmrTimeout: 180_000, shutdownTimeout: 30_000, memoryReserve: 256 * 1024 ** 2 }),
  /**
   * Snapshot templates (QEMU driver): each VO appliance shape this host
   * deploys is booted once, in idle time, to its template point and saved;
   * later deployments restore it (about a second instead of a boot). The
   * other drivers always boot cold.
   */
  templates: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Where templates are kept (default <stateDir>/templates); about the guest's used memory each. */
      dir: absPath.optional(),
      /** Keep at most this many (least recently used go first). */
      maxCount: intWithin(1, 1000).default(8),
      /** A build starts after the host had no deployment for this long (and stops when one arrives). */
      idleQuiet: durationWithin(0, HOUR).default(5000),
      /** After a failed build, wait this long before trying the same shape again (doubling per failure). */
      retryAfter: durationWithin(1000, 24 * HOUR).default(10 * 60_000),
    })
    .default({ enabled: true, maxCount: 8, idleQuiet: 5000, retryAfter: 10 * 60_000 }),
  /** Mutual TLS (also the client certificate towards the coordinator); without it the agent needs --insecure. */
  tls: tlsSchema.optional(),
  /** Register with a coordinator and heartbeat; absent: a standalone agent. */
  coordinator: coordinatorSchema.optional(),
}).superRefine((c, ctx) => {
  // The simulated guest "leases" by writing dnsmasq's lease file, which the dnsmasq backend watches.
  if (c.images.peer && !c.tls) {
    ctx.addIssue({ code: 'custom', path: ['images', 'peer'], message: 'needs tls: peers authenticate each other with their agent certificates' });
  }
  if (c.images.pieceSize % (64 * 1024) !== 0) {
    ctx.addIssue({ code: 'custom', path: ['images', 'pieceSize'], message: 'must be a multiple of 64 KiB' });
  }
  if (c.hypervisor.driver === 'simulated' && !c.hypervisor.simulated.leaseFile && c.dhcp.backend !== 'dnsmasq') {
    ctx.addIssue({ code: 'custom', path: ['hypervisor', 'simulated', 'leaseFile'], message: 'is required unless dhcp.backend is dnsmasq (it defaults to dhcp.dnsmasq.leaseFile)' });
  }
});

/** Validated agent configuration: defaults applied, durations in ms, sizes in bytes. */
export type AgentConfig = z.output<typeof agentConfigSchema>;

/** Reads and validates the agent config file. Throws ConfigError naming each bad field. */
export function loadAgentConfig(file: string): Promise<AgentConfig> {
  return loadYamlConfig(agentConfigSchema, file);
}

/** Validates agent config YAML text. Throws ConfigError. */
export function parseAgentConfig(text: string, file = '<inline>'): AgentConfig {
  return parseYamlConfig(agentConfigSchema, text, file);
}
