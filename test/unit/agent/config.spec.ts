import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { coordinatorAddresses, parseAgentConfig } from '../../../agent/config.js';
import { ConfigError } from '../../../shared/config/load-yaml.js';

describe('agent/config', () => {
  const minimal = 'dhcp:\n  dnsmasq: { hostsDir: /run/vonode/hosts.d, leaseFile: /var/lib/misc/dnsmasq.leases }\n';

  it('applies documented defaults and converts units', () => {
    const c = parseAgentConfig(minimal + 'deploy: { vmrTimeout: 2m, memoryReserve: 1GiB }\nimages: { budget: 512MiB }\n');
    expect(c.listen).to.equal('127.0.0.1:7070');
    expect(c.hypervisor.driver).to.equal('qemu');
    expect(c.hypervisor.qemu.accel).to.equal('tcg');
    expect(c.deploy.vmrTimeout).to.equal(120_000);
    expect(c.deploy.memoryReserve).to.equal(1024 ** 3);
    expect(c.images.budget).to.equal(512 * 1024 ** 2);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', minimal + 'listne: 1.2.3.4:5\n', /listne/],
    ['bad duration', minimal + 'deploy: { vmrTimeout: soon }\n', /deploy\.vmrTimeout: "soon" is not a duration/],
    ['relative path', 'dhcp:\n  dnsmasq: { hostsDir: hosts.d, leaseFile: /x }\n', /dhcp\.dnsmasq\.hostsDir/],
    ['missing backend section', 'dhcp: { backend: isc-dhcpd }\n', /section of the chosen backend/],
    ['bad driver', minimal + 'hypervisor: { driver: vmware }\n', /hypervisor\.driver/],
    ['bad listen', minimal + 'listen: "just-a-host"\n', /listen: must be host:port or unix/],
    ['not YAML', 'a: [\n', /not valid YAML/],
    ['coordinator without advertise', minimal + 'coordinator: { address: 10.0.0.1:7080 }\n', /coordinator\.advertise/],
    ['bad coordinator address', minimal + 'coordinator: { address: "coord", advertise: 10.0.0.2:7070 }\n', /coordinator\.address: must be host:port or unix/],
    ['a coordinator section without address or addresses', minimal + 'coordinator: { advertise: 10.0.0.2:7070 }\n',
      /coordinator\.address: is required: the coordinator's host:port, or addresses: \[every coordinator of an HA site\]/],
    ['both coordinator address and addresses', minimal + 'coordinator: { address: c1:7080, addresses: [c1:7080, c2:7080], advertise: 10.0.0.2:7070 }\n',
      /coordinator\.addresses: give either address \(one coordinator\) or addresses \(every coordinator of an HA site\), not both/],
    ['an empty coordinator address list', minimal + 'coordinator: { addresses: [], advertise: 10.0.0.2:7070 }\n', /coordinator\.addresses: must list at least one coordinator address/],
    ['a bad coordinator in the list', minimal + 'coordinator: { addresses: [c1:7080, "c2"], advertise: 10.0.0.2:7070 }\n', /coordinator\.addresses\.1: must be host:port or unix/],
    ['a coordinator listed twice', minimal + 'coordinator: { addresses: [c1:7080, c2:7080, c1:7080], advertise: 10.0.0.2:7070 }\n', /coordinator\.addresses\.2: c1:7080 is listed twice/],
    ['simulated without a lease file under isc-dhcpd',
      'hypervisor: { driver: simulated }\ndhcp: { backend: isc-dhcpd, iscDhcpd: { hostsFile: /a, mainConfig: /b, logFile: /c, reloadCommand: ["true"] } }\n',
      /hypervisor\.simulated\.leaseFile: is required unless dhcp\.backend is dnsmasq/],
    ['a relative simulated lease file', minimal + 'hypervisor: { simulated: { leaseFile: leases } }\n', /hypervisor\.simulated\.leaseFile/],
    ['an image source without a trailing slash', minimal + 'images: { sources: [http://repo/appliances] }\n', /images\.sources\.0: http:\/\/repo\/appliances must end with '\/'/],
    ['an image source with credentials', minimal + 'images: { sources: ["https://u:p@repo/"] }\n', /images\.sources\.0: .*credentials/],
    ['an image source with a query', minimal + 'images: { sources: ["http://repo/a/?token=x"] }\n', /images\.sources\.0: .*query/],
    ['an ftp image source', minimal + 'images: { sources: ["ftp://repo/a/"] }\n', /images\.sources\.0: .*only http, https and file/],
    ['a file image source with a host', minimal + 'images: { sources: ["file://nas/srv/a/"] }\n', /images\.sources\.0: .*with a host/],
    ['the whole file system as an image source', minimal + 'images: { sources: ["file:///"] }\n', /images\.sources\.0: .*every file of this host/],
    ['an image source not in normal form', minimal + 'images: { sources: ["http://repo/x/../a/"] }\n', /images\.sources\.0: .*write it as http:\/\/repo\/a\//],
    ['a bad partialTtl', minimal + 'images: { partialTtl: forever }\n', /images\.partialTtl/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      expect(() => parseAgentConfig(text, 'agent.yaml')).to.throw(ConfigError, message);
    });
  }

  it('defaults the simulated driver section and parses the coordinator section', () => {
    const c = parseAgentConfig(minimal + 'hypervisor: { driver: simulated, simulated: { bootDelay: 1s } }\ncoordinator: { address: unix:/run/vonode/coord.sock, advertise: 10.0.0.2:7070 }\n');
    expect(c.hypervisor.simulated).to.deep.equal({ startDelay: 50, bootDelay: 1000, failStart: false });
    expect(c.coordinator).to.deep.equal({ address: 'unix:/run/vonode/coord.sock', advertise: '10.0.0.2:7070' });
    expect(parseAgentConfig(minimal).coordinator).to.equal(undefined);
    expect(coordinatorAddresses(c.coordinator!)).to.deep.equal(['unix:/run/vonode/coord.sock']);
  });

  it('takes every coordinator of an HA site as coordinator.addresses, in order', () => {
    const c = parseAgentConfig(minimal + 'coordinator: { addresses: [c1.site:7080, c2.site:7080, unix:/run/vonode/coord.sock], advertise: 10.0.0.2:7070 }\n');
    expect(coordinatorAddresses(c.coordinator!)).to.deep.equal(['c1.site:7080', 'c2.site:7080', 'unix:/run/vonode/coord.sock']);
    expect(c.coordinator?.advertise).to.equal('10.0.0.2:7070');
  });

  it('fetches from no image source by default, and takes http, https and file prefixes', () => {
    expect(parseAgentConfig(minimal).images).to.deep.include({ sources: [], partialTtl: 15 * 60_000 });
    const sources = ['http://10.130.0.1:8080/appliances/', 'https://repo.site/', 'file:///srv/vonode/appliances/'];
    const c = parseAgentConfig(minimal + `images: { sources: [${sources.join(', ')}], partialTtl: 5m }\n`);
    expect(c.images.sources).to.deep.equal(sources);
    expect(c.images.partialTtl).to.equal(300_000);
  });

  it('parses docs/agent.example.yaml (the documented defaults are valid)', async () => {
    const text = await readFile(new URL('../../../docs/agent.example.yaml', import.meta.url), 'utf8');
    expect(parseAgentConfig(text, 'docs/agent.example.yaml').images).to.deep.include({ sources: [], partialTtl: 15 * 60_000 });
  });

  it('accepts a unix socket listen address', () => {
    expect(parseAgentConfig(minimal + 'listen: unix:/run/vonode/agent.sock\n').listen).to.equal('unix:/run/vonode/agent.sock');
  });
});
