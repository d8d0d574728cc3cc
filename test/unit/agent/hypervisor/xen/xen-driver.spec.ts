import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DomainConfig } from '../../../../../agent/hypervisor/hypervisor-driver.js';
import { parseXlList, XenDriver, xlRunState, type XenDriverOptions } from '../../../../../agent/hypervisor/xen/xen-driver.js';
import { renderXlConfig } from '../../../../../agent/hypervisor/xen/xl-config.js';
import {
  classifyXlFailure,
  XlCommandError,
  XlConfigError,
  XlDomainExistsError,
  XlDomainNotFoundError,
} from '../../../../../agent/hypervisor/xen/xl-errors.js';
import type { Clock } from '../../../../../shared/clock.js';
import { DeadlineError, InvalidArgumentError, UnavailableError } from '../../../../../shared/errors.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../../../../shared/process/command-runner.js';

// Realistic `xl list` output (xl 4.17 prints the header's last columns
// tab-separated, names %-40s). vn-…-004 crashed ("---sc-": shut down, reason
// crash); vn-…-006 shut down for a reboot; the long name overflows its column.
const HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';
const row = (name: string, id: number, mem: number, vcpus: number, flags: string, time: string): string =>
  `${name.padEnd(40)} ${String(id).padStart(5)} ${String(mem).padStart(5)} ${String(vcpus).padStart(5)}     ${flags}  ${time.padStart(8)}`;
const SAMPLE_LIST = [
  HEADER,
  row('Domain-0', 0, 4096, 4, 'r-----', '1523.7'),
  row('vn-vwn-bio-001', 7, 512, 2, '-b----', '12.3'),
  row('vn-vwn-bio-002', 8, 256, 1, 'r-----', '3.1'),
  row('ops-monitoring', 3, 1024, 1, '-b----', '800.0'),
  row('vn-vwn-bio-003', 9, 256, 1, '--p---', '0.0'),
  row('vn-vwn-bio-004', 10, 256, 1, '---sc-', '4.5'),
  row('vn-vwn-bio-005', 11, 256, 1, '------', '41.0'),
  row('vn-vwn-bio-006', 12, 256, 1, '---sr-', '7.9'),
  row('vn-vwn-hep-worker-with-a-very-long-hostname-01', 13, 2048, 4, '-b----', '99.0'),
  '',
].join('\n');

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const failed = (stderr: string, code = 1): CommandResult => ({ code, stdout: '', stderr });
const listing = (name: string, flags: string): CommandResult => ok([HEADER, row(name, 5, 256, 1, flags, '0.1'), ''].join('\n'));
const notFound = (name: string): CommandResult => failed(`${name} is an invalid domain identifier (rc=-6)\n`);

/**
 * A FAKE CommandRunner that plays xl: records every argv and answers each
 * `xl ARGS` from a scripted queue (the last answer repeats). An unscripted
 * command fails the test.
 */
class FakeXlRunner implements CommandRunner {
  readonly calls: string[][] = [];
  private readonly scripts = new Map<string, CommandResult[]>();

  /** Scripts the answers to `xl ARGS` (args joined by spaces). */
  on(args: string, ...results: CommandResult[]): this {
    this.scripts.set(args, results);
    return this;
  }

  async run(argv: readonly string[], _options?: RunOptions): Promise<CommandResult> {
    this.calls.push([...argv]);
    const queue = this.scripts.get(argv.slice(1).join(' '));
    if (!queue?.length) throw new Error(`FakeXlRunner: unscripted command ${argv.join(' ')}`);
    return queue.length > 1 ? queue.shift()! : queue[0]!;
  }

  /** The xl subcommands run, e.g. "create /x.cfg", "list vn-a". */
  get commands(): string[] {
    return this.calls.map((argv) => argv.slice(1).join(' '));
  }
}

/** Fake clock: sleep advances virtual time at once. */
class FakeClock implements Clock {
  now = 1000;
  monotonicMs(): number {
    return this.now;
  }
  nowMs(): number {
    return this.now;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.now += ms;
  }
}

describe('agent/hypervisor/xen XenDriver', () => {
  let root: string;
  let runner: FakeXlRunner;
  let clock: FakeClock;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'vonode-xen-'));
    runner = new FakeXlRunner();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const driver = (options: Partial<XenDriverOptions> = {}): XenDriver =>
    new XenDriver({ type: 'pvh', bridge: 'xenbr0', runner, clock, pollIntervalMs: 100, startTimeoutMs: 1000, ...options });
  const config = (name = 'vn-vwn-bio-001'): DomainConfig => ({
    name,
    hostname: name.slice(3),
    mac: '52:54:00:77:00:01',
    ip: '10.77.0.11',
    vcpus: 2,
    memoryMb: 512,
    diskPath: `/var/lib/vonode/instances/${name}.qcow2`,
    diskFormat: 'qcow2',
    kernelPath: '/var/lib/vonode/cache/vmlinuz',
    // Not created beforehand: start() must mkdir -p it.
    runDir: path.join(root, 'run', name),
  });

  describe('start', () => {
    it('writes <runDir>/<name>.cfg, runs xl create on it, then xl list NAME until running', async () => {
      const c = config();
      const cfg = path.join(c.runDir, 'vn-vwn-bio-001.cfg');
      runner.on(`create ${cfg}`, ok()).on('list vn-vwn-bio-001', listing(c.name, '--p---'), listing(c.name, 'r-----'));
      await driver({ xlPath: '/usr/sbin/xl' }).start(c);
      expect(await readFile(cfg, 'utf8')).to.equal(renderXlConfig(c, { type: 'pvh', bridge: 'xenbr0' }));
      expect(runner.calls).to.deep.equal([
        ['/usr/sbin/xl', 'create', cfg],
        ['/usr/sbin/xl', 'list', 'vn-vwn-bio-001'],
        ['/usr/sbin/xl', 'list', 'vn-vwn-bio-001'],
      ]);
      expect(clock.now).to.equal(1100); // one poll interval while paused
    });

    it('defaults to the xl on PATH and accepts a blocked guest as running', async () => {
      const c = config();
      runner.on(`create ${XenDriver.configPath(c)}`, ok()).on(`list ${c.name}`, listing(c.name, '-b----'));
      await driver().start(c);
      expect(runner.calls.map((argv) => argv[0])).to.deep.equal(['xl', 'xl']);
    });

    it('throws XlConfigError with argv, exit code and stderr when xl rejects the config, and polls nothing', async () => {
      const c = config();
      const cfg = XenDriver.configPath(c);
      const stderr = `Parsing config from ${cfg}\n${cfg}:7: config parsing error near \`bar': syntax error\nFailed to parse config: Invalid argument\n`;
      runner.on(`create ${cfg}`, failed(stderr));
      const err = await driver().start(c).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(XlConfigError).and.to.include({ exitCode: 1, stderr });
      expect((err as XlConfigError).argv).to.deep.equal(['xl', 'create', cfg]);
      expect(runner.commands).to.deep.equal([`create ${cfg}`]);
    });

    it('throws XlDomainExistsError (ALREADY_EXISTS) when the name is taken', async () => {
      const c = config();
      runner.on(`create ${XenDriver.configPath(c)}`, failed(
        `Parsing config from ${XenDriver.configPath(c)}\n` +
          'libxl: error: libxl_domain.c:1236:libxl__domain_rename: Domain 14:Domain with name "vn-vwn-bio-001" already exists.\n' +
          'libxl: error: libxl_create.c:1233:initiate_domain_create: Domain 14:cannot make domain: -6\n',
      ));
      const err = await driver().start(c).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(XlDomainExistsError).with.property('code', status.ALREADY_EXISTS);
    });

    it('fails when the domain crashed or vanished right after create', async () => {
      const c = config();
      runner.on(`create ${XenDriver.configPath(c)}`, ok()).on(`list ${c.name}`, listing(c.name, '---sc-'));
      const crashed = await driver().start(c).then(() => undefined, (e: unknown) => e);
      expect(crashed).to.be.instanceOf(UnavailableError).with.property('message').that.matches(/crashed \(---sc-\)/);
      runner.on(`list ${c.name}`, notFound(c.name));
      const vanished = await driver().start(c).then(() => undefined, (e: unknown) => e);
      expect(vanished).to.be.instanceOf(UnavailableError).with.property('message').that.matches(/vanished/);
    });

    it('gives up with DeadlineError when the domain never runs within startTimeoutMs', async () => {
      const c = config();
      runner.on(`create ${XenDriver.configPath(c)}`, ok()).on(`list ${c.name}`, listing(c.name, '--p---'));
      const err = await driver().start(c).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(DeadlineError);
      expect(clock.now - 1000).to.equal(1000);
    });

    it('stops polling when aborted', async () => {
      const c = config();
      const abort = new AbortController();
      runner.on(`create ${XenDriver.configPath(c)}`, ok()).on(`list ${c.name}`, listing(c.name, '--p---'));
      clock.sleep = async () => abort.abort(new Error('deploy cancelled'));
      const err = await driver().start(c, abort.signal).then(() => undefined, (e: unknown) => e);
      expect(err).to.have.property('message', 'deploy cancelled');
    });

    it('refuses a domain that is not vonode\'s (or a bad value) before running anything', async () => {
      const notOurs = await driver().start(config('42')).then(() => undefined, (e: unknown) => e);
      expect(notOurs).to.be.instanceOf(InvalidArgumentError).with.property('field', 'name');
      const badMac = await driver().start({ ...config(), mac: '52:54:00:77:00:01, bridge=evil' }).then(() => undefined, (e: unknown) => e);
      expect(badMac).to.be.instanceOf(InvalidArgumentError).with.property('field', 'mac');
      expect(runner.calls).to.deep.equal([]);
    });
  });

  describe('shutdown', () => {
    it('sends xl shutdown and resolves true once the domain is gone', async () => {
      runner.on('shutdown vn-a', ok()).on('list vn-a', listing('vn-a', '-b----'), listing('vn-a', '---s--'), notFound('vn-a'));
      expect(await driver().shutdown('vn-a', 5000)).to.equal(true);
      expect(runner.commands).to.deep.equal(['shutdown vn-a', 'list vn-a', 'list vn-a']);
    });

    it('returns false when the guest is still running at the timeout', async () => {
      runner.on('shutdown vn-a', ok()).on('list vn-a', listing('vn-a', '-b----'));
      expect(await driver().shutdown('vn-a', 450)).to.equal(false);
      expect(clock.now - 1000).to.equal(500); // polled until past the deadline, then gave up
      expect(runner.commands.filter((c) => c === 'list vn-a')).to.have.length(6);
    });

    it('uses the ACPI fallback (-F) for HVM guests', async () => {
      runner.on('shutdown -F vn-a', ok()).on('list vn-a', notFound('vn-a'));
      expect(await driver({ type: 'hvm' }).shutdown('vn-a', 1000)).to.equal(true);
    });

    it('treats a domain xl does not know as already stopped', async () => {
      runner.on('shutdown vn-a', notFound('vn-a'));
      expect(await driver().shutdown('vn-a', 1000)).to.equal(true);
    });
  });

  describe('destroy', () => {
    it('runs xl destroy NAME', async () => {
      runner.on('destroy vn-a', ok());
      await driver().destroy('vn-a');
      expect(runner.commands).to.deep.equal(['destroy vn-a']);
    });

    it('is fine with a missing domain', async () => {
      runner.on('destroy vn-a', notFound('vn-a'));
      await driver().destroy('vn-a');
    });

    it('does not mistake "xl could not look" for "gone"', async () => {
      runner.on('destroy vn-a', failed(
        'libxl: error: libxl_domain.c:335:libxl_list_domain: getting domain info list: Permission denied\n' +
          'vn-a is an invalid domain identifier (rc=-5)\n',
      ));
      const err = await driver().destroy('vn-a').then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(XlCommandError).and.not.instanceOf(XlDomainNotFoundError);
    });
  });

  describe('list', () => {
    it('returns only vonode domains with their states', async () => {
      runner.on('list', ok(SAMPLE_LIST));
      expect(await driver().list()).to.deep.equal([
        { name: 'vn-vwn-bio-001', state: 'running' },
        { name: 'vn-vwn-bio-002', state: 'running' },
        { name: 'vn-vwn-bio-003', state: 'paused' },
        { name: 'vn-vwn-bio-004', state: 'crashed' },
        { name: 'vn-vwn-bio-005', state: 'running' },
        { name: 'vn-vwn-bio-006', state: 'shutdown' },
        { name: 'vn-vwn-hep-worker-with-a-very-long-hostname-01', state: 'running' },
      ]);
    });

    it('throws the classified error when xl list fails', async () => {
      runner.on('list', failed('libxl: error: libxl_domain.c:335:libxl_list_domain: getting domain info list: Function not implemented\nlibxl_list_domain failed.\n'));
      const err = await driver().list().then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(XlCommandError).with.property('exitCode', 1);
    });
  });
});

describe('agent/hypervisor/xen parseXlList', () => {
  it('parses every row but the header and Domain-0', () => {
    const entries = parseXlList(SAMPLE_LIST);
    expect(entries.map((e) => e.name)).to.not.include('Domain-0');
    expect(entries).to.have.length(8);
    expect(entries[0]).to.deep.equal({ name: 'vn-vwn-bio-001', domid: 7, memoryMb: 512, vcpus: 2, flags: '-b----', state: 'running', cpuTimeS: 12.3 });
    expect(entries[2]).to.include({ name: 'ops-monitoring', domid: 3 });
    expect(entries[7]).to.include({ name: 'vn-vwn-hep-worker-with-a-very-long-hostname-01', domid: 13, memoryMb: 2048, vcpus: 4 });
  });

  it('returns nothing for a host running only Domain-0, or empty output', () => {
    expect(parseXlList([HEADER, row('Domain-0', 0, 4096, 4, 'r-----', '1.0'), ''].join('\n'))).to.deep.equal([]);
    expect(parseXlList('')).to.deep.equal([]);
  });

  it('throws on a row it cannot read instead of dropping a domain', () => {
    expect(() => parseXlList(`${HEADER}\nvn-a  5  256  1  garbage  0.1\n`)).to.throw(UnavailableError, /cannot parse xl list row/);
  });

  const states: [string, string][] = [
    ['r-----', 'running'],
    ['-b----', 'running'],
    ['------', 'running'],
    ['--p---', 'paused'],
    ['-bp---', 'paused'],
    ['---s--', 'shutdown'],
    ['---sr-', 'shutdown'],
    ['---ss-', 'shutdown'],
    ['-----d', 'shutdown'],
    ['---sc-', 'crashed'],
    ['---sw-', 'crashed'],
  ];
  for (const [flags, state] of states) {
    it(`reads State ${flags} as ${state}`, () => expect(xlRunState(flags)).to.equal(state));
  }
});

describe('agent/hypervisor/xen classifyXlFailure', () => {
  const cases: [string, string, new (...args: never[]) => XlCommandError, number][] = [
    ['xl list NAME, no such domain', 'vn-a is an invalid domain identifier (rc=-6)\n', XlDomainNotFoundError, status.NOT_FOUND],
    ['xl list NAME, domain vanished after lookup', "Error: Domain 'vn-a' does not exist.\n", XlDomainNotFoundError, status.NOT_FOUND],
    ['lookup failed (not a missing domain)', 'vn-a is an invalid domain identifier (rc=-5)\n', XlCommandError, status.UNAVAILABLE],
    ['name taken', 'libxl: error: libxl_domain.c:1236:libxl__domain_rename: Domain 3:Domain with name "vn-a" already exists.\n', XlDomainExistsError, status.ALREADY_EXISTS],
    ['syntax error', "a.cfg:5: config parsing error near `bar': syntax error, unexpected IDENT\nFailed to parse config: Invalid argument\n", XlConfigError, status.UNAVAILABLE],
    ['unreadable config', 'Failed to read config file: /x.cfg: No such file or directory\n', XlConfigError, status.UNAVAILABLE],
    ['bad disk spec', "a.cfg: config parsing error in disk specification: unknown value for format: near `qcow9'\n", XlConfigError, status.UNAVAILABLE],
    ['no boot source', 'Neither kernel nor bootloader specified\n', XlConfigError, status.UNAVAILABLE],
    ['no hypervisor', 'ERROR:  Can\'t find hypervisor information in sysfs!\n', XlCommandError, status.UNAVAILABLE],
  ];
  for (const [what, stderr, cls, code] of cases) {
    it(`${what} -> ${cls.name}`, () => {
      const argv = ['xl', 'list', 'vn-a'];
      const err = classifyXlFailure(argv, failed(stderr));
      expect(err.constructor).to.equal(cls);
      expect(err).to.include({ exitCode: 1, stderr, code });
      expect(err.argv).to.deep.equal(argv);
      expect(err.message).to.contain('xl list failed (exit 1)').and.contain('[xl list vn-a]');
    });
  }

  it('names the missing domain', () => {
    expect(classifyXlFailure(['xl', 'destroy', 'vn-b'], failed('vn-b is an invalid domain identifier (rc=-6)\n'))).to.have.property('domain', 'vn-b');
  });
});
