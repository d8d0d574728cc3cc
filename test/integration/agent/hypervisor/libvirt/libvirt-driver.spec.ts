import { expect } from 'chai';
import { LibvirtDriver, parseDomainNames, parseDomstate } from '../../../../../agent/hypervisor/libvirt/libvirt-driver.js';
import { classifyVirshFailure, LibvirtXmlError } from '../../../../../agent/hypervisor/libvirt/virsh-errors.js';
import { VirshSession } from '../../../../../agent/hypervisor/libvirt/virsh-session.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

// The real driver against libvirt's built-in test driver (test:///default),
// through a real virsh process: no hypervisor boots, but libvirt parses,
// validates and tracks the domains exactly as it does for qemu or xen.
describe('agent/hypervisor/LibvirtDriver against libvirt test:///default', () => {
  let session: VirshSession;
  let driver: LibvirtDriver;
  let dir: string;
  const config = (name: string) => ({
    name, hostname: name.slice(3), mac: '52:54:00:0a:00:01', ip: '10.0.10.1', vcpus: 1, memoryMb: 256,
    diskPath: '/var/lib/vonode/instances/x.qcow2', diskFormat: 'qcow2' as const, runDir: path.join(dir, name),
    kernelPath: '/boot/vmlinuz', initrdPath: '/boot/initrd.img', cmdline: 'console=ttyS0',
  });

  before(async () => {
    dir = await tempDir('vonode-lv-');
    session = new VirshSession('test:///default');
    driver = new LibvirtDriver({ uri: 'test:///default', domainType: 'kvm', bridge: 'br0', session });
  });
  after(() => session.close());

  it('ignores domains vonode did not create (the test driver ships one named "test")', async () => {
    expect(await driver.list()).to.deep.equal([]);
    expect((await session.exec(['list', '--all', '--name'])).stdout).to.contain('test');
  });

  for (const domainType of ['kvm', 'xen'] as const) {
    it(`runs the lifecycle of a ${domainType} domain: define --validate, start, list, shutdown, destroy, undefine`, async () => {
      const d = new LibvirtDriver({ uri: 'test:///default', domainType, bridge: 'br0', session });
      const name = `vn-vwn-${domainType}-001`;
      await d.start(config(name));
      expect(await d.list()).to.deep.include({ name, state: 'running' });
      expect(await d.shutdown(name, 5000)).to.equal(true);
      expect(await d.list()).to.deep.include({ name, state: 'shutdown' });
      await d.destroy(name);
      expect((await d.list()).map((x) => x.name)).to.not.include(name);
    });
  }

  it('destroys a running domain at once, and a missing one without error', async () => {
    await driver.start(config('vn-vwn-bio-002'));
    await driver.destroy('vn-vwn-bio-002');
    await driver.destroy('vn-vwn-bio-002');
    expect(await driver.list()).to.deep.equal([]);
  });

  it('refuses XML that fails libvirt schema validation with LibvirtXmlError', async () => {
    const file = path.join(dir, 'bad.xml');
    await writeFile(file, `<domain type='kvm'><name>vn-bad</name><memory>1</memory><os><type>hvm</type></os><bogus/></domain>`);
    const r = await session.exec(['define', '--validate', file]);
    expect(r.ok).to.equal(false);
    expect(classifyVirshFailure(['define', '--validate', file], r)).to.be.instanceOf(LibvirtXmlError);
  });

  it('restarts virsh transparently if it dies (new connection: the test driver state resets)', async () => {
    process.kill(session.pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect(await driver.list()).to.deep.equal([]);
    expect(session.pid).to.be.a('number');
  });

  it('parses domstate and list output', () => {
    expect(parseDomstate('running\n\n')).to.equal('running');
    expect(parseDomstate('shut off')).to.equal('shutdown');
    expect(parseDomstate('paused')).to.equal('paused');
    expect(parseDomainNames('test\nvn-a\n\nvn-b\n')).to.deep.equal(['vn-a', 'vn-b']);
  });
});
