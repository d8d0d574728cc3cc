import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderDomainXml, xmlEscape } from '../../../../../agent/hypervisor/libvirt/domain-xml.js';
import { ProcessRunner } from '../../../../../shared/process/command-runner.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';

// Every rendered XML is checked against libvirt's own RNG schema with the real virt-xml-validate.
describe('agent/hypervisor/libvirt/domain-xml', () => {
  const base = {
    name: 'vn-vwn-bio-001', hostname: 'vwn-bio-001', mac: '52:54:00:01:02:03', ip: '10.0.0.11', vcpus: 1, memoryMb: 256,
    diskPath: '/var/lib/vonode/instances/vn-vwn-bio-001.qcow2', diskFormat: 'qcow2' as const, runDir: '/var/lib/vonode/run/vn-vwn-bio-001',
  };
  const kernel = { kernelPath: '/var/lib/vonode/images/blobs/k', initrdPath: '/var/lib/vonode/images/blobs/i', cmdline: 'console=ttyS0 quiet' };
  const runner = new ProcessRunner();

  for (const domainType of ['kvm', 'qemu', 'xen'] as const) {
    for (const withKernel of [false, true]) {
      it(`renders schema-valid XML for ${domainType}${withKernel ? ' with direct kernel boot' : ''}`, async () => {
        const xml = renderDomainXml({ ...base, ...(withKernel ? kernel : {}) }, { domainType, bridge: 'br0' });
        const file = path.join(await tempDir(), 'd.xml');
        await writeFile(file, xml);
        const r = await runner.run(['virt-xml-validate', file, 'domain']);
        expect(r.code, r.stderr + r.stdout).to.equal(0);
        expect(xml).to.contain(`<mac address='52:54:00:01:02:03'/>`).and.contain(`<source bridge='br0'/>`);
        if (withKernel) expect(xml).to.contain(`<kernel>/var/lib/vonode/images/blobs/k</kernel>`);
      });
    }
  }

  it('escapes every value', () => {
    expect(xmlEscape(`a<b>&"c'`)).to.equal('a&lt;b&gt;&amp;&quot;c&apos;');
    const xml = renderDomainXml({ ...base, cmdline: 'x</cmdline><evil/>', kernelPath: '/k' }, { domainType: 'kvm', bridge: 'br0' });
    expect(xml).to.not.contain('<evil/>');
  });
});
