import { runChecked, ProcessRunner, type CommandRunner } from '../../../shared/process/command-runner.js';
import { until } from './wait.js';

/** One machine on the simulated LAN: a network namespace with one address. */
export interface LanMember {
  /** Short name: 'lan', 'repo', 'h01', … (also the suffix of its namespace and of its link's switch port). */
  name: string;
  netns: string;
  ip: string;
  /** argv prefix to run a command inside */
  exec(argv: string[]): string[];
}

export interface FanoutLanOptions {
  /** Namespace name prefix, e.g. 'vnf' (≤ 6 chars, [a-z0-9]); everything named `${prefix}-…` is this LAN's. */
  prefix: string;
  /** The /24 as three octets, e.g. '10.77.0'. */
  subnet: string;
  hosts: number;
  /** Rate of each host's link, both directions. */
  hostLinkMbit: number;
  /** Rate of the image repository's link, both directions. */
  repoLinkMbit: number;
  runner?: CommandRunner;
}

/** Byte counters of one interface since it was created. */
export interface LinkCounters {
  txBytes: number;
  rxBytes: number;
}

/** The device a member's traffic is counted and shaped on, inside its own namespace. */
const MEMBER_DEV = 'eth0';
const BRIDGE = 'br0';
/** Hosts are .11 and up, so at most .254. */
const MAX_HOSTS = 244;

class Member implements LanMember {
  constructor(
    readonly name: string,
    readonly netns: string,
    readonly ip: string,
  ) {}

  exec(argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.netns, ...argv];
  }
}

/**
 * A simulated site LAN for image fan-out tests and benchmarks: a switch
 * namespace (`${prefix}-lan`, bridge br0, where the coordinator runs), an
 * image repository and N hosts, each in its own namespace and wired to the
 * switch by a veth pair whose both ends are rate-limited with tbf, so a
 * member's upload (its eth0) and download (the switch port `v-<name>`) are
 * each capped like a real NIC. Everything lives in namespaces, so deleting
 * them removes every link and qdisc with them.
 */
export class FanoutLan {
  readonly lan: LanMember;
  readonly repo: LanMember;
  readonly hosts: LanMember[];
  private readonly runner: CommandRunner;
  private readonly prefix: string;
  private readonly rates: ReadonlyMap<LanMember, number>;

  constructor(options: FanoutLanOptions) {
    validate(options);
    const { prefix, subnet } = options;
    this.prefix = prefix;
    this.runner = options.runner ?? new ProcessRunner();
    const member = (name: string, n: number): LanMember => new Member(name, `${prefix}-${name}`, `${subnet}.${n}`);
    this.lan = member('lan', 1);
    this.repo = member('repo', 2);
    const width = Math.max(2, String(options.hosts).length);
    this.hosts = Array.from({ length: options.hosts }, (_, i) => member(`h${String(i + 1).padStart(width, '0')}`, 11 + i));
    this.rates = new Map([[this.repo, options.repoLinkMbit], ...this.hosts.map((h): [LanMember, number] => [h, options.hostLinkMbit])]);
  }

  /** The repository and the hosts: every member with a link of its own. */
  get linked(): LanMember[] {
    return [this.repo, ...this.hosts];
  }

  /**
   * Builds the LAN, first deleting whatever an earlier run with the same
   * prefix left behind (possibly with more hosts), so a crashed run never
   * blocks the next one. Resolves once every link is up with its address.
   * Throws with the failing command's stderr.
   */
  async create(): Promise<void> {
    await this.deleteNamespaces(await this.leftovers());
    await this.createSwitch();
    for (const member of this.linked) await this.attach(member, this.rates.get(member)!);
    await until(`${this.prefix} LAN links up`, () => this.ready(), 10_000, 50);
  }

  /** Deletes the namespaces this LAN made (their veths and qdiscs go with them). Safe to call twice. */
  async destroy(): Promise<void> {
    const mine = new Set([this.lan, ...this.linked].map((m) => m.netns));
    await this.deleteNamespaces((await this.namespaces()).filter((ns) => mine.has(ns)));
  }

  /** Bytes through the member's eth0 (the switch's br0 for `lan`), from the kernel's 64-bit stats. */
  async counters(member: LanMember): Promise<LinkCounters> {
    const dev = member.netns === this.lan.netns ? BRIDGE : MEMBER_DEV;
    const { stdout } = await runChecked(this.runner, ['ip', '-n', member.netns, '-s', '-j', 'link', 'show', dev]);
    return parseCounters(stdout, `${member.netns}/${dev}`);
  }

  /** Changes the rate of a member's link, both directions, without recreating it (in-flight connections survive). */
  async setLinkMbit(member: LanMember, mbit: number): Promise<void> {
    if (member.netns === this.lan.netns) throw new Error('the switch namespace has no link of its own to limit');
    if (!(mbit > 0 && Number.isFinite(mbit))) throw new Error(`link rate must be a positive number of Mbit/s, got ${mbit}`);
    await runChecked(this.runner, tbfArgv(member.netns, MEMBER_DEV, mbit));
    await runChecked(this.runner, tbfArgv(this.lan.netns, switchPort(member), mbit));
  }

  /** The switch: a namespace with a non-STP bridge that forwards at once, carrying the LAN's .1 address. */
  private async createSwitch(): Promise<void> {
    const ns = ['ip', '-n', this.lan.netns];
    await runChecked(this.runner, ['ip', 'netns', 'add', this.lan.netns]);
    await runChecked(this.runner, [...ns, 'link', 'set', 'lo', 'up']);
    await runChecked(this.runner, [...ns, 'link', 'add', 'name', BRIDGE, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await runChecked(this.runner, [...ns, 'addr', 'add', `${this.lan.ip}/24`, 'dev', BRIDGE]);
    await runChecked(this.runner, [...ns, 'link', 'set', BRIDGE, 'up']);
  }

  /**
   * A member namespace wired to the switch. The veth pair is made inside the
   * member (so every member can call its end eth0) and the peer moved to the
   * switch; `name X … peer name Y` spelled out because `ip link add` reads a
   * short bare name such as "a" as the keyword "address".
   */
  private async attach(member: LanMember, mbit: number): Promise<void> {
    const ns = ['ip', '-n', member.netns];
    const lan = ['ip', '-n', this.lan.netns];
    const port = switchPort(member);
    await runChecked(this.runner, ['ip', 'netns', 'add', member.netns]);
    await runChecked(this.runner, [...ns, 'link', 'set', 'lo', 'up']);
    await runChecked(this.runner, [...ns, 'link', 'add', 'name', MEMBER_DEV, 'type', 'veth', 'peer', 'name', port]);
    await runChecked(this.runner, [...ns, 'link', 'set', port, 'netns', this.lan.netns]);
    await runChecked(this.runner, [...lan, 'link', 'set', port, 'master', BRIDGE]);
    await runChecked(this.runner, [...lan, 'link', 'set', port, 'up']);
    await runChecked(this.runner, [...ns, 'addr', 'add', `${member.ip}/24`, 'dev', MEMBER_DEV]);
    await runChecked(this.runner, [...ns, 'link', 'set', MEMBER_DEV, 'up']);
    await this.setLinkMbit(member, mbit);
  }

  /** True once the bridge and every link (both ends) are operationally up and each member has its address. */
  private async ready(): Promise<boolean> {
    const bridge = await this.linkState(this.lan.netns, BRIDGE);
    if (!bridge.up || !bridge.addresses.includes(this.lan.ip)) return false;
    for (const member of this.linked) {
      const [inside, port] = await Promise.all([this.linkState(member.netns, MEMBER_DEV), this.linkState(this.lan.netns, switchPort(member))]);
      if (!inside.up || !port.up || !inside.addresses.includes(member.ip)) return false;
    }
    return true;
  }

  private async linkState(netns: string, dev: string): Promise<{ up: boolean; addresses: string[] }> {
    const { stdout } = await runChecked(this.runner, ['ip', '-n', netns, '-j', 'addr', 'show', 'dev', dev]);
    const [link] = JSON.parse(stdout) as Array<{ operstate?: string; addr_info?: Array<{ family?: string; local?: string }> }>;
    return {
      up: link?.operstate === 'UP',
      addresses: (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local ?? ''),
    };
  }

  /** Namespaces named like this LAN's members (`${prefix}-lan`, `-repo`, `-hNN`), whoever made them. */
  private async leftovers(): Promise<string[]> {
    const ours = new RegExp(`^${this.prefix}-(lan|repo|h\\d+)$`);
    return (await this.namespaces()).filter((ns) => ours.test(ns));
  }

  /** All namespace names; `ip netns list` prints "name" or "name (id: N)". */
  private async namespaces(): Promise<string[]> {
    const { stdout } = await runChecked(this.runner, ['ip', 'netns', 'list']);
    return stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter(Boolean);
  }

  private async deleteNamespaces(names: string[]): Promise<void> {
    for (const ns of names) await runChecked(this.runner, ['ip', 'netns', 'del', ns]);
  }
}

/** The switch-side end of a member's veth: its download direction. */
function switchPort(member: LanMember): string {
  return `v-${member.name}`;
}

/**
 * A token bucket on dev's egress. The burst must hold at least one
 * timer tick of traffic or tbf cannot reach its rate at 1 Gbit; 4 ms worth,
 * but never under 32 KiB so a full-size frame burst still fits at 10 Mbit.
 * latency 50ms bounds the queue so TCP sees a realistic bottleneck.
 */
function tbfArgv(netns: string, dev: string, mbit: number): string[] {
  const burst = Math.max(32 * 1024, Math.ceil((mbit * 1e6) / 8 / 250));
  return ['tc', '-n', netns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', '50ms'];
}

function parseCounters(json: string, what: string): LinkCounters {
  const [link] = JSON.parse(json) as Array<{ stats64?: { tx?: { bytes?: number }; rx?: { bytes?: number } } }>;
  const tx = link?.stats64?.tx?.bytes;
  const rx = link?.stats64?.rx?.bytes;
  if (typeof tx !== 'number' || typeof rx !== 'number') throw new Error(`no stats64 byte counters for ${what}`);
  return { txBytes: tx, rxBytes: rx };
}

function validate(o: FanoutLanOptions): void {
  if (!/^[a-z0-9]{1,6}$/.test(o.prefix)) throw new Error(`prefix must be 1-6 of [a-z0-9], got '${o.prefix}'`);
  const octets = o.subnet.split('.');
  if (octets.length !== 3 || !octets.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)) {
    throw new Error(`subnet must be three octets like '10.77.0', got '${o.subnet}'`);
  }
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > MAX_HOSTS) throw new Error(`hosts must be 1-${MAX_HOSTS}, got ${o.hosts}`);
  for (const [key, mbit] of [['hostLinkMbit', o.hostLinkMbit], ['repoLinkMbit', o.repoLinkMbit]] as const) {
    if (!(mbit > 0 && Number.isFinite(mbit))) throw new Error(`${key} must be a positive number of Mbit/s, got ${mbit}`);
  }
}

/** What a LinkRateSampler saw on one member's link. */
export interface LinkRates {
  member: string;
  /** Highest average over any 1-second window of the samples (the whole run if it was shorter). */
  maxTxBytesPerSec: number;
  maxRxBytesPerSec: number;
  /** Total between start and stop. */
  txBytes: number;
  rxBytes: number;
}

/** One reading of a member's counters, at monotonic time tMs. */
export interface CounterSample extends LinkCounters {
  tMs: number;
}

const WINDOW_MS = 1000;

/**
 * Polls members' link counters while a test or benchmark runs, to show the
 * peak a link actually carried (a fan-out that saturates the repository's
 * link, or one that doesn't). Peaks are averages over 1-second windows, not
 * between two samples, so a single tbf burst does not read as a rate.
 */
export class LinkRateSampler {
  private readonly samples = new Map<LanMember, CounterSample[]>();
  private running = false;
  private loop: Promise<void> | undefined;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly lan: FanoutLan,
    private readonly members: LanMember[],
    private readonly intervalMs = 200,
  ) {}

  /** Takes a first sample now and then one every intervalMs (never overlapping) until stop(). */
  start(): void {
    if (this.running) throw new Error('LinkRateSampler already started');
    this.running = true;
    this.samples.clear();
    this.failure = undefined;
    this.loop = this.sampleLoop().catch((e: unknown) => {
      this.failure = e;
    });
  }

  /** Stops, takes a last sample, and reports each member's peak rates and totals. Throws if any sample failed. */
  async stop(): Promise<LinkRates[]> {
    if (!this.loop) throw new Error('LinkRateSampler not started');
    this.running = false;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    if (this.failure) throw this.failure;
    await this.sample();
    return this.members.map((m) => ratesOf(m.name, this.samples.get(m) ?? []));
  }

  private async sampleLoop(): Promise<void> {
    while (this.running) {
      await this.sample();
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.intervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** All members at once, stamped at the midpoint of the readings to halve the `ip` start-up skew. */
  private async sample(): Promise<void> {
    const before = performance.now();
    const counters = await Promise.all(this.members.map((m) => this.lan.counters(m)));
    const tMs = (before + performance.now()) / 2;
    this.members.forEach((m, i) => {
      const list = this.samples.get(m) ?? [];
      list.push({ tMs, ...counters[i]! });
      this.samples.set(m, list);
    });
  }
}

function ratesOf(member: string, samples: CounterSample[]): LinkRates {
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    member,
    maxTxBytesPerSec: maxWindowRate(samples, (s) => s.txBytes),
    maxRxBytesPerSec: maxWindowRate(samples, (s) => s.rxBytes),
    txBytes: first && last ? last.txBytes - first.txBytes : 0,
    rxBytes: first && last ? last.rxBytes - first.rxBytes : 0,
  };
}

/**
 * The highest bytes/second over windows of at least windowMs: from each
 * sample to the first one windowMs or more later. Samples spanning less than
 * one window give the average over all of them; fewer than two give 0.
 */
export function maxWindowRate(samples: readonly CounterSample[], bytes: (s: CounterSample) => number, windowMs = WINDOW_MS): number {
  const rate = (a: CounterSample, b: CounterSample): number => (b.tMs > a.tMs ? ((bytes(b) - bytes(a)) * 1000) / (b.tMs - a.tMs) : 0);
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || samples.length < 2) return 0;
  if (last.tMs - first.tMs < windowMs) return rate(first, last);
  let max = 0;
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    j = Math.max(j, i + 1);
    while (j < samples.length && samples[j]!.tMs - samples[i]!.tMs < windowMs) j++;
    if (j >= samples.length) break;
    max = Math.max(max, rate(samples[i]!, samples[j]!));
  }
  return max;
}
