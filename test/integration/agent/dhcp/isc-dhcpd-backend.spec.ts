import { expect } from 'chai';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IscDhcpdBackend, parseDhcpAck, parseHostBlocks, renderHostBlock } from '../../../../agent/dhcp/isc-dhcpd-backend.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

// The host-block file is checked by the real `dhcpd -t -cf` (Debian's
// isc-dhcp-server). The reload command is `touch MARKER`, a real command whose
// effect the test can see; the testbed restarts a real dhcpd instead.
describe('agent/dhcp/IscDhcpdBackend (real dhcpd -t)', () => {
  let dir: string;
  let backend: IscDhcpdBackend;
  let marker: string;
  let main: string;
  const mainText = (hosts: string) => `ddns-update-style none;\nauthoritative;\nsubnet 10.213.8.0 netmask 255.255.255.0 { }\ninclude "${hosts}";\n`;

  before(async () => {
    dir = await tempDir('vonode-dhcpd-');
    marker = path.join(dir, 'reloaded');
    main = path.join(dir, 'dhcpd.conf');
    const hosts = path.join(dir, 'vonode-hosts.conf');
    await writeFile(main, mainText(hosts));
    await writeFile(hosts, '');
    await writeFile(path.join(dir, 'dhcpd.log'), '');
    backend = new IscDhcpdBackend({ hostsFile: hosts, mainConfig: main, logFile: path.join(dir, 'dhcpd.log'), reloadCommand: ['touch', marker] });
    await backend.open();
  });
  after(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a host block that dhcpd accepts, then reloads', async () => {
    await backend.add({ hostname: 'vwn-bio-001', mac: '52:54:00:08:00:01', ip: '10.213.8.10' });
    await access(marker);
    expect(await backend.list()).to.deep.equal([{ hostname: 'vwn-bio-001', mac: '52:54:00:08:00:01', ip: '10.213.8.10' }]);
  });

  it('keeps the old file and does not reload when dhcpd rejects the config', async () => {
    await rm(marker);
    const before = await readFile(path.join(dir, 'vonode-hosts.conf'), 'utf8');
    await writeFile(main, mainText(path.join(dir, 'vonode-hosts.conf')) + 'this is not dhcpd syntax;\n');
    let err: unknown;
    await backend.add({ hostname: 'vwn-bio-002', mac: '52:54:00:08:00:02', ip: '10.213.8.11' }).catch((e: unknown) => (err = e));
    expect((err as Error).message).to.match(/dhcpd failed \(exit 1\)/);
    expect(await readFile(path.join(dir, 'vonode-hosts.conf'), 'utf8')).to.equal(before);
    let reloaded = true;
    await access(marker).catch(() => (reloaded = false));
    expect(reloaded).to.equal(false);
    await writeFile(main, mainText(path.join(dir, 'vonode-hosts.conf')));
  });

  it('removes a host block', async () => {
    await backend.remove('vwn-bio-001');
    expect(await backend.list()).to.deep.equal([]);
  });

  it('resolves a lease wait from a DHCPACK log line', async () => {
    const wait = backend.waitForLease('52:54:00:08:00:03', 3000);
    await writeFile(path.join(dir, 'dhcpd.log'), 'DHCPACK on 10.213.8.12 to 52:54:00:08:00:03 (vwn-bio-003) via br0\n', { flag: 'a' });
    expect(await wait).to.deep.equal({ mac: '52:54:00:08:00:03', ip: '10.213.8.12' });
  });

  it('round-trips host blocks and parses ACK lines', () => {
    const r = { hostname: 'vwn-x', mac: '52:54:00:00:00:01', ip: '10.0.0.2' };
    expect(parseHostBlocks(renderHostBlock(r))).to.deep.equal([r]);
    expect(parseDhcpAck('Nov 24 dhcpd[1]: DHCPREQUEST for 10.0.0.2 from 52:54:00:00:00:01')).to.equal(undefined);
  });
});
