import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../../agent/node-flags.js';
import { freePort } from '../../../scripts/testbed/lib/free-port.js';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';
import { ChrootRoot, type RootDaemon } from '../../helpers/chroot-root.js';
import { consoleRequest } from '../../helpers/console-client.js';
import { execArgv, parseUnit, unitEnvironment, unitValue, unitValues, type UnitFile } from '../../helpers/systemd-unit.js';
import { until } from '../../helpers/wait.js';

// The Debian package (scripts/package/build-deb.sh), built once per run into a temp dir: its
// fields and contents, lintian, then installed into a fresh debootstrapped bookworm root
// (scripts/package/bookworm-root.sh, cached under /var/cache/vonode-build): files, the vonode
// user, state directories, `systemd-analyze verify`, and both daemons started from their installed
// paths with the command lines of their installed units, answering `vonode health`.
// First run ~7 min on 2 cores (npm compiles better-sqlite3: ~4 min; debootstrap: ~1 min); later
// runs ~2 min (build ~50 s, lintian ~40 s), both caches under /var/cache/vonode-build.

const ROOT = path.resolve(import.meta.dirname, '../../..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; dependencies: Record<string, string> };
const UNITS = ['vonode-agent.service', 'vonode-coordinator.service'] as const;
const CONFFILES = ['/etc/vonode/agent.yaml', '/etc/vonode/coordinator.yaml', '/etc/vonode/policy.yaml'];
const LOOPBACK = 'DNS:localhost,IP:127.0.0.1';

interface DebEntry {
  mode: string;
  owner: string;
}

describe('Debian package (scripts/package/build-deb.sh)', function () {
  this.timeout(300_000);
  const runner = new ProcessRunner();
  let work = '';
  let deb = '';
  let extracted = '';
  let contents = new Map<string, DebEntry>();
  let root: ChrootRoot | undefined;
  const units = new Map<string, UnitFile>();

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // apt-get, debootstrap, chroot, mount
    this.timeout(1_800_000); // the first run compiles better-sqlite3 and debootstraps
    await runChecked(runner, ['bash', '-c', '. scripts/lib/install-deps.sh && vonode_apt_install lintian debootstrap systemd'], { cwd: ROOT, timeoutMs: 900_000 });
    work = await mkdtemp('/tmp/vonode-deb-spec-');
    await runChecked(runner, ['bash', 'scripts/package/build-deb.sh', '--out', work], { cwd: ROOT, timeoutMs: 1_200_000 });
    deb = path.join(work, `vonode_${PACKAGE.version}_amd64.deb`);
    extracted = path.join(work, 'extracted');
    await runChecked(runner, ['dpkg-deb', '-x', deb, extracted]);
    const list = await runChecked(runner, ['dpkg-deb', '--contents', deb]);
    contents = new Map(list.stdout.split('\n').filter(Boolean).map((l) => {
      const f = l.split(/\s+/);
      return [f[5]!.replace(/^\.\//, '/').replace(/\/$/, ''), { mode: f[0]!, owner: f[1]! }];
    }));
  });

  after(async () => {
    if (root) await root.close(); // throws (and keeps the root) if something stayed mounted
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('the .deb', () => {
    it('names itself vonode, for amd64, depending on what the bundled Node links against, not on nodejs', async () => {
      const out = (await runChecked(runner, ['dpkg-deb', '--field', deb])).stdout;
      const field = (name: string): string => new RegExp(`^${name}: (.*)$`, 'm').exec(out)?.[1] ?? '';
      expect(field('Package')).to.equal('vonode');
      expect(field('Version')).to.equal(PACKAGE.version);
      expect(field('Architecture')).to.equal('amd64');
      const depends = field('Depends').split(/,\s*/).map((d) => d.split(' ')[0]);
      expect(depends).to.include.members(['adduser', 'libc6', 'libstdc++6', 'libgcc-s1']);
      expect(depends).to.not.include('nodejs');
    });

    it('lays out the runtime, the code, the production dependencies, the commands, the units and the conffiles', async () => {
      const expected = [
        '/usr/lib/vonode/bin/node', '/usr/lib/vonode/package.json', '/lib/systemd/system/vonode-agent.service',
        '/lib/systemd/system/vonode-coordinator.service', ...CONFFILES, '/usr/share/doc/vonode/copyright',
        '/usr/share/lintian/overrides/vonode', '/usr/lib/vonode/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
        ...Object.keys(PACKAGE.dependencies).map((d) => `/usr/lib/vonode/node_modules/${d}/package.json`),
        ...(await readdir(path.join(ROOT, 'proto/vonode/v1'))).map((f) => `/usr/lib/vonode/proto/vonode/v1/${f}`),
        ...['index.html', 'assets/app.js', 'assets/app.css'].map((f) => `/usr/lib/vonode/dist/console/${f}`),
      ];
      for (const [name, entry] of Object.entries(PACKAGE.bin)) expected.push(`/usr/bin/${name}`, `/usr/lib/vonode/${entry}`);
      expect([...contents.keys()]).to.include.members(expected);
      for (const exe of ['/usr/lib/vonode/bin/node', ...Object.keys(PACKAGE.bin).map((n) => `/usr/bin/${n}`)]) expect(contents.get(exe)?.mode, exe).to.equal('-rwxr-xr-x');
      expect([...contents.values()].filter((e) => e.owner !== 'root/root')).to.deep.equal([]);
      for (const tool of ['typescript', 'mocha', 'tsx', 'eslint', 'chai', 'ts-proto']) expect(contents.has(`/usr/lib/vonode/node_modules/${tool}`), tool).to.equal(false);
      expect([...contents.keys()].filter((p) => p.startsWith('/usr/lib/vonode/dist/') && /\.ts$|\/test\//.test(p))).to.deep.equal([]);
      const conffiles = await runChecked(runner, ['dpkg-deb', '--info', deb, 'conffiles']);
      expect(conffiles.stdout.split('\n').filter(Boolean)).to.have.members(CONFFILES);
      expect(await readFile(path.join(extracted, 'etc/vonode/coordinator.yaml'), 'utf8')).to.match(/^stateDb: \/var\/lib\/vonode\/state\.db/m);
    });

    it('runs each command on the bundled Node, the agent with its V8 flags (agent/node-flags.ts)', async () => {
      for (const [name, entry] of Object.entries(PACKAGE.bin)) {
        const wrapper = await readFile(path.join(extracted, 'usr/bin', name), 'utf8');
        const flags = name === 'vonode-agent' ? `${AGENT_NODE_FLAGS.join(' ')} ` : '';
        expect(wrapper).to.match(/^#!\/bin\/sh\n/);
        expect(wrapper).to.contain(`\nexec /usr/lib/vonode/bin/node ${flags}/usr/lib/vonode/${entry} "$@"\n`);
      }
    });

    it('is lintian-clean: no error, and every override in packaging/deb/lintian-overrides is used', async function () {
      this.timeout(600_000);
      const r = await runner.run(['lintian', '--no-cfg', '--display-info', '--show-overrides', deb], { timeoutMs: 600_000 });
      const lines = `${r.stdout}\n${r.stderr}`.split('\n');
      expect(lines.filter((l) => l.startsWith('E: ')), r.stdout).to.deep.equal([]);
      expect(lines.filter((l) => /unused-override|mismatched-override/.test(l))).to.deep.equal([]);
      const overridden = new Set(lines.filter((l) => l.startsWith('O: ')).map((l) => l.split(/\s+/)[2]));
      const declared = (await readFile(path.join(ROOT, 'packaging/deb/lintian-overrides'), 'utf8')).split('\n').filter((l) => l.startsWith('vonode: ')).map((l) => l.split(/\s+/)[1]);
      expect([...overridden]).to.have.members([...new Set(declared)]);
    });
  });

  describe('installed into a fresh bookworm root', () => {
    before(async function () {
      if (!work) this.skip();
      this.timeout(900_000); // debootstrap, the first time
      root = new ChrootRoot(path.join(work, 'root'));
      await runChecked(runner, ['bash', 'scripts/package/bookworm-root.sh', root.dir], { cwd: ROOT, timeoutMs: 900_000 });
      await copyFile(deb, root.at('tmp/vonode.deb'));
      const installed = await root.run(['dpkg', '-i', '/tmp/vonode.deb'], { timeoutMs: 180_000 });
      if (installed.code !== 0) {
        // Depends the minimal root lacks come from the mirror (the root has the machine's sources).
        await root.mountSystem();
        await copyFile('/etc/resolv.conf', root.at('etc/resolv.conf'));
        await root.runOk(['apt-get', 'update', '-q'], { timeoutMs: 300_000 });
        await root.runOk(['apt-get', 'install', '-f', '-y', '-q', '--no-install-recommends'], { timeoutMs: 300_000, env: { DEBIAN_FRONTEND: 'noninteractive' } });
      }
      for (const u of UNITS) units.set(u, parseUnit(await readFile(root.at(`lib/systemd/system/${u}`), 'utf8')));
    });

    it('is installed, and its bundled Node runs there (its shared libraries are all present)', async () => {
      expect((await root!.runOk(['dpkg-query', '-W', '-f=${Status}', 'vonode'])).stdout).to.equal('install ok installed');
      expect((await root!.runOk(['/usr/lib/vonode/bin/node', '--version'])).stdout.trim()).to.equal(process.version);
      const conffiles = (await root!.runOk(['dpkg-query', '-W', '-f=${Conffiles}', 'vonode'])).stdout;
      for (const f of CONFFILES) expect(conffiles).to.contain(f);
      for (const name of Object.keys(PACKAGE.bin).filter((n) => n !== 'vonode')) {
        expect((await root!.run([`/usr/bin/${name}`, '--help'])).code, name).to.equal(0);
      }
    });

    it('made the system user vonode and the state directories, and enabled no unit', async () => {
      const [, , uid, gid, , home, shell] = (await root!.runOk(['getent', 'passwd', 'vonode'])).stdout.trim().split(':');
      expect(Number(uid)).to.be.below(1000);
      expect([home, shell]).to.deep.equal(['/var/lib/vonode', '/usr/sbin/nologin']);
      expect((await root!.runOk(['getent', 'group', 'vonode'])).stdout.split(':')[2]).to.equal(gid);
      const coordinatorState = await stat(root!.at('var/lib/vonode'));
      expect([coordinatorState.uid, coordinatorState.gid, coordinatorState.mode & 0o7777]).to.deep.equal([Number(uid), Number(gid), 0o750]);
      const agentState = await stat(root!.at('var/lib/vonode-agent'));
      expect([agentState.uid, agentState.mode & 0o7777]).to.deep.equal([0, 0o700]);
      const wants = await readdir(root!.at('etc/systemd/system/multi-user.target.wants')).catch(() => [] as string[]);
      expect(wants.filter((w) => w.startsWith('vonode'))).to.deep.equal([]);
    });

    it('has units that systemd-analyze verifies, the coordinator hardened and unprivileged, the agent keeping its guests', async () => {
      const verify = await runner.run(['systemd-analyze', 'verify', `--root=${root!.dir}`, ...UNITS], { cwd: '/', timeoutMs: 60_000 });
      expect(verify.code, verify.stderr).to.equal(0);
      expect(`${verify.stdout}${verify.stderr}`.trim()).to.equal('');
      const coordinator = units.get('vonode-coordinator.service')!;
      const service = (k: string): string | undefined => unitValue(coordinator, 'Service', k);
      expect([service('User'), service('Restart'), service('ReadWritePaths'), service('CapabilityBoundingSet')]).to.deep.equal(['vonode', 'always', '/var/lib/vonode', '']);
      expect([service('NoNewPrivileges'), service('ProtectSystem'), service('PrivateTmp'), service('StandardOutput')]).to.deep.equal(['yes', 'strict', 'yes', 'journal']);
      expect(service('RestrictAddressFamilies')?.split(/\s+/)).to.have.members(['AF_UNIX', 'AF_INET', 'AF_INET6']);
      const security = await runner.run(['systemd-analyze', 'security', '--offline=yes', `--root=${root!.dir}`, 'vonode-coordinator.service'], { cwd: '/', timeoutMs: 60_000 });
      const exposure = Number(/Overall exposure level for vonode-coordinator\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
      expect(exposure, security.stdout).to.be.below(2);
      const agent = units.get('vonode-agent.service')!;
      expect([unitValue(agent, 'Service', 'User'), unitValue(agent, 'Service', 'KillMode'), unitValue(agent, 'Service', 'PrivateTmp')]).to.deep.equal([undefined, 'process', undefined]);
      for (const unit of units.values()) {
        const [pre] = unitValues(unit, 'Service', 'ExecStartPre').map(execArgv);
        expect(pre).to.deep.equal([...execArgv(unitValue(unit, 'Service', 'ExecStart')!), '--check']);
      }
    });

    it('runs both daemons with their units\' command lines (TLS), answers `vonode health` on both, and serves the web console from the package', async function () {
      this.timeout(120_000);
      const r = root!;
      await r.mountSystem();
      const [coordinatorPort, agentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
      await writeSiteConfig(r, coordinatorPort, agentPort, consolePort);
      const started = new Map<string, RootDaemon>();
      for (const [name, unit] of units) {
        const user = unitValue(unit, 'Service', 'User');
        const as = user ? { user: `${user}:${unitValue(unit, 'Service', 'Group') ?? user}` } : {};
        const env = unitEnvironment(unit);
        for (const pre of unitValues(unit, 'Service', 'ExecStartPre')) {
          const check = await r.run(execArgv(pre), { ...as, env });
          expect(check.code, `${name} ExecStartPre: ${check.stderr}`).to.equal(0);
          expect(check.stdout).to.match(/: OK$/m);
        }
        started.set(name, r.spawnDaemon(execArgv(unitValue(unit, 'Service', 'ExecStart')!), { ...as, env }));
      }
      const cli = ['/usr/bin/vonode', '--ca', '/etc/vonode/pki/ca.pem', '--cert', '/etc/vonode/pki/cli.pem', '--key', '/etc/vonode/pki/cli-key.pem'];
      const logs = (): string => [...started].map(([n, d]) => `${n}:\n${d.output()}`).join('\n');
      for (const port of [coordinatorPort, agentPort]) {
        await until(`vonode health 127.0.0.1:${port} SERVING\n${logs()}`, async () => {
          const h = await r.run([...cli, 'health', `127.0.0.1:${port}`]);
          return h.code === 0 && h.stdout.trim() === 'SERVING' ? true : undefined;
        }, 60_000, 500);
      }
      await until('the agent registered with the coordinator', async () => {
        const hosts = await r.run([...cli, '--coordinator', `127.0.0.1:${coordinatorPort}`, 'hosts']);
        return /^pkg-agent\s+up\b/m.test(hosts.stdout) ? true : undefined;
      }, 30_000, 500);
      // The console's page and bundle come from /usr/lib/vonode/dist/console; the admin certificate is let in.
      const caller = { ca: r.at('etc/vonode/pki/ca.pem'), cert: { cert: r.at('etc/vonode/pki/cli.pem'), key: r.at('etc/vonode/pki/cli-key.pem') } };
      const page = await consoleRequest(consolePort, '/', caller);
      expect(page.status, logs()).to.equal(200);
      expect(page.text).to.equal(await readFile(r.at('usr/lib/vonode/dist/console/index.html'), 'utf8'));
      expect((await consoleRequest(consolePort, '/api/whoami', caller)).json()).to.include({ name: 'cli', via: 'certificate', role: 'admin', site: 'pkg-site' });
      const vonodeUid = Number((await r.runOk(['id', '-u', 'vonode'])).stdout.trim());
      expect(await r.uidOf(started.get('vonode-coordinator.service')!.proc.pid!)).to.equal(vonodeUid);
      expect(await r.uidOf(started.get('vonode-agent.service')!.proc.pid!)).to.equal(0);
      expect((await stat(r.at('var/lib/vonode/state.db'))).uid).to.equal(vonodeUid);
      // systemd's stop: SIGTERM, and both end cleanly.
      const exits = [...started.values()].map((d) => new Promise<number | null>((resolve) => d.proc.once('exit', (code) => resolve(code))));
      for (const d of started.values()) d.proc.kill('SIGTERM');
      expect(await Promise.all(exits), logs()).to.deep.equal([0, 0]);
    });

    it('reinstalls over itself keeping the edited conffiles, and a purge removes its files but keeps state with data', async function () {
      this.timeout(120_000);
      const r = root!;
      const edited = await readFile(r.at('etc/vonode/coordinator.yaml'), 'utf8');
      await r.runOk(['dpkg', '-i', '/tmp/vonode.deb'], { timeoutMs: 180_000 });
      expect(await readFile(r.at('etc/vonode/coordinator.yaml'), 'utf8')).to.equal(edited);
      expect((await r.runOk(['getent', 'passwd'])).stdout.match(/^vonode:/gm)).to.have.length(1);
      await r.runOk(['dpkg', '--purge', 'vonode'], { timeoutMs: 120_000 });
      for (const gone of ['usr/lib/vonode', 'usr/bin/vonode-agent', 'lib/systemd/system/vonode-coordinator.service', 'etc/vonode/coordinator.yaml']) {
        expect(await stat(r.at(gone)).then(() => true, () => false), gone).to.equal(false);
      }
      expect(await stat(r.at('var/lib/vonode/state.db')).then(() => true, () => false)).to.equal(true);
    });
  });
});

/**
 * What a site admin does before enabling the units: a PKI (scripts/pki/make-site-pki.sh) whose
 * coordinator key the vonode user can read, and the shipped example configs edited: loopback
 * addresses, TLS, and for the agent the simulated driver (docs/agent.example.yaml: dnsmasq
 * backend without logFile, no dnsmasq runs).
 */
async function writeSiteConfig(root: ChrootRoot, coordinatorPort: number, agentPort: number, consolePort: number): Promise<void> {
  const pki = root.at('etc/vonode/pki');
  const runner = new ProcessRunner();
  await runChecked(runner, ['bash', path.join(ROOT, 'scripts/pki/make-site-pki.sh'), pki, '--role', 'coordinator', `coordinator:${LOOPBACK}`, '--role', 'agent', `pkg-agent:${LOOPBACK}`, '--role', 'admin', 'cli']);
  const gid = Number((await root.runOk(['getent', 'group', 'vonode'])).stdout.split(':')[2]);
  await chown(pki, 0, gid);
  await chmod(pki, 0o750);
  await chown(path.join(pki, 'coordinator-key.pem'), 0, gid);
  await chmod(path.join(pki, 'coordinator-key.pem'), 0o640);
  const tls = (name: string): Record<string, string> => ({ ca: '/etc/vonode/pki/ca.pem', cert: `/etc/vonode/pki/${name}.pem`, key: `/etc/vonode/pki/${name}-key.pem`, crl: '/etc/vonode/pki/crl.pem' });

  const coordinator = parse(await readFile(root.at('etc/vonode/coordinator.yaml'), 'utf8')) as Record<string, unknown>;
  Object.assign(coordinator, { site: 'pkg-site', listen: `127.0.0.1:${coordinatorPort}`, tls: tls('coordinator'), console: { listen: `127.0.0.1:${consolePort}` } });
  await writeFile(root.at('etc/vonode/coordinator.yaml'), stringify(coordinator));

  const agent = parse(await readFile(root.at('etc/vonode/agent.yaml'), 'utf8')) as { hypervisor: Record<string, unknown>; dhcp: { dnsmasq: Record<string, unknown> } } & Record<string, unknown>;
  Object.assign(agent, { listen: `127.0.0.1:${agentPort}`, hostName: 'pkg-agent', tls: tls('pkg-agent') });
  Object.assign(agent, { coordinator: { address: `127.0.0.1:${coordinatorPort}`, advertise: `127.0.0.1:${agentPort}` } });
  agent.hypervisor.driver = 'simulated';
  agent.dhcp.dnsmasq = { hostsDir: agent.dhcp.dnsmasq['hostsDir'], leaseFile: '/var/lib/vonode-agent/dnsmasq.leases' };
  await writeFile(root.at('etc/vonode/agent.yaml'), stringify(agent));
  await root.runOk(['install', '-d', '-m', '0700', String(agent.dhcp.dnsmasq['hostsDir'])]);
}
