import { expect } from 'chai';
import { buildQemuArgv } from '../../../../../agent/hypervisor/qemu/qemu-argv.js';
import { tapNameFor } from '../../../../../agent/hypervisor/qemu/tap-device.js';

describe('agent/hypervisor/qemu argv', () => {
  const config = {
    name: 'vn-vwn-bio-001', hostname: 'vwn-bio-001', mac: '52:54:00:01:02:03', ip: '10.0.0.11', vcpus: 2, memoryMb: 512,
    diskPath: '/var/lib/vonode/instances/vn-vwn-bio-001.qcow2', diskFormat: 'qcow2' as const, runDir: '/var/lib/vonode/run/vn-vwn-bio-001',
  };
  const opts = { binary: 'qemu-system-x86_64', accel: 'tcg' as const, machine: 'pc' };

  it('holds the CPUs (-S), daemonizes and exposes QMP in the run dir', () => {
    const argv = buildQemuArgv(config, 'vnt123', opts);
    expect(argv).to.include('-S').and.include('-daemonize');
    expect(argv[argv.indexOf('-qmp') + 1]).to.equal('unix:/var/lib/vonode/run/vn-vwn-bio-001/qmp.sock,server=on,wait=off');
    expect(argv[argv.indexOf('-m') + 1]).to.equal('512');
    expect(argv[argv.indexOf('-accel') + 1]).to.equal('tcg');
    expect(argv).to.not.include('-no-shutdown'); // a guest poweroff must end QEMU
  });

  it('adds direct kernel boot only when a kernel is given', () => {
    expect(buildQemuArgv(config, 't', opts)).to.not.include('-kernel');
    const argv = buildQemuArgv({ ...config, kernelPath: '/k', initrdPath: '/i', cmdline: 'console=ttyS0' }, 't', opts);
    expect(argv.slice(argv.indexOf('-kernel'))).to.deep.equal(['-kernel', '/k', '-initrd', '/i', '-append', 'console=ttyS0']);
  });

  it('derives stable tap names within the 15-character limit', () => {
    expect(tapNameFor('vn-vwn-bio-001')).to.equal(tapNameFor('vn-vwn-bio-001'));
    expect(tapNameFor('vn-vwn-bio-001')).to.not.equal(tapNameFor('vn-vwn-bio-002'));
    expect(tapNameFor('vn-' + 'x'.repeat(200)).length).to.be.at.most(15);
  });
});
