import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dnsmasqArgv, stopDnsmasq, type DnsmasqFiles } from '../../../../scripts/testbed/lib/dnsmasq.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

describe('scripts/testbed/dnsmasq: dnsmasqArgv', () => {
  const files: DnsmasqFiles = {
    bridge: 'vnbr7',
    prefix: '10.130.0',
    hostsDir: '/tmp/tb x/hosts.d',
    leaseFile: '/tmp/tb x/dnsmasq.leases',
    logFile: '/tmp/tb x/dnsmasq.log',
    pidFile: '/tmp/tb x/dnsmasq.pid',
  };

  it('answers only its own reservations when onlyKnownClients is set', () => {
    const argv = dnsmasqArgv({ ...files, onlyKnownClients: true });
    expect(argv).to.include('--dhcp-ignore=tag:!known');
    expect(argv).not.to.include('--dhcp-authoritative');
  });

  for (const onlyKnownClients of [undefined, false]) {
    it(`is authoritative and ignores no one when onlyKnownClients is ${onlyKnownClients}`, () => {
      const argv = dnsmasqArgv({ ...files, onlyKnownClients });
      expect(argv).to.include('--dhcp-authoritative');
      expect(argv.some((a) => a.startsWith('--dhcp-ignore'))).to.be.false;
    });
  }

  for (const onlyKnownClients of [true, false]) {
    it(`passes every path, the bridge and the prefix as given (onlyKnownClients ${onlyKnownClients})`, () => {
      const argv = dnsmasqArgv({ ...files, onlyKnownClients });
      expect(argv[0]).to.equal('dnsmasq');
      expect(argv).to.include.members([
        '--interface=vnbr7',
        '--dhcp-range=10.130.0.0,static,255.255.255.0,1h',
        '--dhcp-hostsdir=/tmp/tb x/hosts.d',
        '--dhcp-leasefile=/tmp/tb x/dnsmasq.leases',
        '--log-facility=/tmp/tb x/dnsmasq.log',
        '--pid-file=/tmp/tb x/dnsmasq.pid',
      ]);
      // DHCP only: no DNS, no config file of the host's own.
      expect(argv).to.include.members(['--port=0', '--conf-file=/dev/null']);
    });
  }
});

// A real child process stands in for dnsmasq: only its PID file matters.
describe('scripts/testbed/dnsmasq: stopDnsmasq', () => {
  it('sends SIGTERM to the PID its PID file names', async () => {
    const dir = await tempDir('vonode-dnsmasq-');
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    const pidFile = path.join(dir, 'dnsmasq.pid');
    await writeFile(pidFile, `${child.pid}\n`);
    await stopDnsmasq(pidFile);
    expect(await exited).to.equal('SIGTERM');
    await stopDnsmasq(pidFile); // the process is gone: nothing to do, no error
  });

  it('does nothing when there is no PID file or it names no PID', async () => {
    const dir = await tempDir('vonode-dnsmasq-');
    await stopDnsmasq(path.join(dir, 'missing.pid'));
    await writeFile(path.join(dir, 'empty.pid'), '');
    await stopDnsmasq(path.join(dir, 'empty.pid'));
  });
});
