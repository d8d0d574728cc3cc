import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DnsmasqBackend, parseDnsmasqLeases } from '../../../../agent/dhcp/dnsmasq-backend.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { HostNamespace } from '../../../../scripts/testbed/lib/host-namespace.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

describe('agent/dhcp/DnsmasqBackend (real dnsmasq in a namespace)', function () {
  let host: HostNamespace;
  let backend: DnsmasqBackend;

  before(async () => {
    host = new HostNamespace(`vnt-dq-${process.pid}`, { prefix: '10.213.7' }, await tempDir('vonode-dq-'));
    await host.create();
    backend = new DnsmasqBackend({ hostsDir: host.hostsDir, leaseFile: host.leaseFile, logFile: host.logFile, loadTimeoutMs: 3000 });
    await backend.open();
  });
  after(async () => {
    await backend?.close();
    await host?.destroy();
  });

  it('adds a reservation atomically and resolves only once dnsmasq has read it', async () => {
    await backend.add({ hostname: 'vwn-bio-001', mac: '52:54:00:07:00:01', ip: '10.213.7.10' });
    const log = await readFile(host.logFile, 'utf8');
    expect(log).to.contain(`read ${path.join(host.hostsDir, 'vwn-bio-001')}`);
    expect(await readdir(host.hostsDir)).to.deep.equal(['vwn-bio-001']); // no temp file left
    expect(await backend.list()).to.deep.equal([{ hostname: 'vwn-bio-001', mac: '52:54:00:07:00:01', ip: '10.213.7.10' }]);
  });

  it('removes a reservation idempotently', async () => {
    await backend.remove('vwn-bio-001');
    await backend.remove('vwn-bio-001');
    expect(await backend.list()).to.deep.equal([]);
  });

  it('times out with advice when dnsmasq does not load the file', async () => {
    const deaf = new DnsmasqBackend({ hostsDir: host.hostsDir, leaseFile: host.leaseFile, logFile: path.join(host.workDir, 'nobody.log'), loadTimeoutMs: 300 });
    await writeFile(path.join(host.workDir, 'nobody.log'), '');
    await deaf.open();
    try {
      let err: unknown;
      await deaf.add({ hostname: 'vwn-bio-002', mac: '52:54:00:07:00:02', ip: '10.213.7.11' }).catch((e: unknown) => (err = e));
      expect((err as Error).message).to.match(/did not load .* is it running with --dhcp-hostsdir/);
    } finally {
      await deaf.close();
      await backend.remove('vwn-bio-002');
    }
  });

  it('resolves a lease wait only for a NEW lease line of the MAC', async () => {
    const mac = '52:54:00:07:00:03';
    await writeFile(host.leaseFile, `1700000000 ${mac} 10.213.7.12 vwn-bio-003 *\n`);
    await new Promise((r) => setTimeout(r, 100));
    const wait = backend.waitForLease(mac, 3000);
    let settled = false;
    void wait.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled, 'an old lease must not count').to.equal(false);
    await writeFile(host.leaseFile, `1800000000 ${mac} 10.213.7.12 vwn-bio-003 *\n`);
    expect(await wait).to.deep.equal({ mac, ip: '10.213.7.12' });
  });

  it('forgets a removed reservation at once when it knows dnsmasq\'s pid file: a client with that MAC gets no lease any more', async function () {
    this.timeout(30_000);
    const runner = new ProcessRunner();
    const reloading = new DnsmasqBackend({ hostsDir: host.hostsDir, leaseFile: host.leaseFile, logFile: host.logFile, loadTimeoutMs: 3000, pidFile: host.pidFile });
    await reloading.open();
    const client = `vnt-dqc-${process.pid}`;
    const mac = '52:54:00:07:00:09';
    // A DHCP client in its own namespace on the host's bridge (the guest of another host on the same LAN).
    const lease = async (): Promise<boolean> =>
      (await runner.run(['ip', 'netns', 'exec', client, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '3', '-T', '1', '-s', '/bin/true'], { timeoutMs: 15_000 })).code === 0;
    try {
      await runChecked(runner, ['ip', 'netns', 'add', client]);
      await runChecked(runner, ['ip', 'link', 'add', 'vqc0', 'netns', host.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
      await runChecked(runner, ['ip', '-n', host.name, 'link', 'set', 'vqc0', 'master', host.bridge, 'up']);
      await runChecked(runner, ['ip', '-n', client, 'link', 'set', 'eth0', 'address', mac, 'up']);
      await reloading.add({ hostname: 'vwn-bio-009', mac, ip: '10.213.7.19' });
      expect(await lease(), 'a reserved MAC leases').to.equal(true);
      await reloading.remove('vwn-bio-009');
      expect(await lease(), 'a removed reservation must not lease (dnsmasq keeps it until SIGHUP)').to.equal(false);
    } finally {
      await reloading.close();
      await runner.run(['ip', 'netns', 'del', client]);
      await runner.run(['ip', '-n', host.name, 'link', 'del', 'vqc0']);
    }
  });

  it('refuses to remove with a pid file that names no dnsmasq, saying what to do', async () => {
    const stale = path.join(host.workDir, 'stale.pid');
    await writeFile(stale, `${process.pid}\n`);
    const b = new DnsmasqBackend({ hostsDir: host.hostsDir, leaseFile: host.leaseFile, pidFile: stale });
    let err: unknown;
    await b.remove('vwn-bio-010').catch((e: unknown) => (err = e));
    expect((err as Error).message).to.match(/no dnsmasq runs with the pid in .*stale\.pid \(dhcp\.dnsmasq\.pidFile\)/);
  });

  it('parses dnsmasq lease lines', () => {
    const leases = parseDnsmasqLeases('1700000000 52:54:00:aa:bb:cc 10.0.0.5 vwn-a *\n\n');
    expect(leases.get('52:54:00:aa:bb:cc')?.ip).to.equal('10.0.0.5');
  });
});
