import { expect } from 'chai';
import { buildQemuArgv, qemuPaths, TEMPLATE_RAM_ID } from '../../../../../agent/hypervisor/qemu/qemu-argv.js';
import { IDENTITY_PORT_NAME } from '../../../../../agent/hypervisor/snapshot.js';
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
  describe('start modes', () => {
    const run = '/var/lib/vonode/run/vn-vwn-bio-001';
    const ram = '/var/lib/vonode/templates/0123/memory.bin';
    const valuesOf = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
    const boot = buildQemuArgv(config, 'vnt123', opts);
    const template = buildQemuArgv(config, 'vnt123', opts, { kind: 'template', memoryFile: `${ram}.partial` });
    const restore = buildQemuArgv(config, 'vnt123', opts, { kind: 'restore', memoryFile: ram });

    it('puts every runtime file in the run dir', () => {
      expect(qemuPaths(run)).to.deep.equal({
        qmpSocket: `${run}/qmp.sock`, pidFile: `${run}/qemu.pid`, consoleLog: `${run}/console.log`,
        identitySocket: `${run}/identity.sock`, saveSocket: `${run}/save.sock`, incomingSocket: `${run}/incoming.sock`,
      });
    });

    it('boot (the default) has the tap, plain RAM, no identity port and no -incoming', () => {
      expect(buildQemuArgv(config, 'vnt123', opts, { kind: 'boot' })).to.deep.equal(boot);
      expect(valuesOf(boot, '-netdev')).to.deep.equal(['tap,id=n0,ifname=vnt123,script=no,downscript=no']);
      expect(valuesOf(boot, '-machine')).to.deep.equal(['pc']);
      expect(boot).to.not.include('-chardev').and.not.include('-incoming').and.not.include('-object');
      expect(boot.join(' ')).to.not.contain(IDENTITY_PORT_NAME);
    });

    it('template has no network backend (a hub port to nowhere) and never names the tap', () => {
      expect(valuesOf(template, '-netdev')).to.deep.equal(['hubport,id=n0,hubid=0']);
      expect(template.join(' ')).to.not.contain('vnt123').and.not.contain('ifname=');
      expect(template).to.not.include('-incoming');
    });

    it('template writes the guest\'s RAM to its memory file (shared); restore maps it copy-on-write (private)', () => {
      expect(valuesOf(template, '-object')).to.deep.equal([`memory-backend-file,id=${TEMPLATE_RAM_ID},size=512M,mem-path=${ram}.partial,share=on`]);
      expect(valuesOf(restore, '-object')).to.deep.equal([`memory-backend-file,id=${TEMPLATE_RAM_ID},size=512M,mem-path=${ram},share=off`]);
      for (const argv of [template, restore]) expect(valuesOf(argv, '-machine')).to.deep.equal([`pc,memory-backend=${TEMPLATE_RAM_ID}`]);
    });

    it('template and restore expose the identity port on a unix socket in the run dir', () => {
      for (const argv of [template, restore]) {
        expect(valuesOf(argv, '-chardev')).to.deep.equal([`socket,id=vnid,path=${run}/identity.sock,server=on,wait=off`]);
        expect(valuesOf(argv, '-device')).to.include('virtio-serial-pci,id=vser0');
        expect(valuesOf(argv, '-device')).to.include(`virtserialport,bus=vser0.0,chardev=vnid,name=${IDENTITY_PORT_NAME}`);
      }
    });

    it('restore takes the tap and waits for its state (-incoming defer)', () => {
      expect(valuesOf(restore, '-netdev')).to.deep.equal(['tap,id=n0,ifname=vnt123,script=no,downscript=no']);
      expect(valuesOf(restore, '-incoming')).to.deep.equal(['defer']);
      expect(restore).to.include('-S'); // CPUs held until the state is loaded and checked
    });

    it('template and restore build the same machine (QEMU loads state only into an equal one)', () => {
      for (const flag of ['-device', '-machine', '-m', '-smp', '-accel', '-chardev']) {
        expect(valuesOf(restore, flag), flag).to.deep.equal(valuesOf(template, flag));
      }
      // The RAM block is named alike on both sides; only its file and sharing differ.
      const backend = (argv: string[]): string => valuesOf(argv, '-object')[0]!.replace(/,mem-path=[^,]*/, '').replace(/,share=\w+/, '');
      expect(backend(restore)).to.equal(backend(template));
      // Apart from that: the network backend and -incoming.
      const skip = ['-netdev', '-incoming', '-object'];
      const strip = (argv: string[]): string[] => argv.filter((a, i) => !skip.includes(a) && !skip.includes(argv[i - 1] ?? ''));
      expect(strip(restore)).to.deep.equal(strip(template));
    });

    it('the kernel, initrd and command line come after the mode\'s devices in every mode', () => {
      const c = { ...config, kernelPath: '/k', initrdPath: '/i', cmdline: 'console=ttyS0 vonode.template=1 init_on_free=1' };
      const modes = [{ kind: 'boot' }, { kind: 'template', memoryFile: ram }, { kind: 'restore', memoryFile: ram }] as const;
      for (const mode of modes) {
        const argv = buildQemuArgv(c, 't', opts, mode);
        expect(argv.slice(argv.indexOf('-kernel')), mode.kind).to.deep.equal(['-kernel', '/k', '-initrd', '/i', '-append', c.cmdline]);
      }
    });

    it('falls back to console=ttyS0 and omits -initrd when the VM has a kernel only', () => {
      const argv = buildQemuArgv({ ...config, kernelPath: '/k' }, 't', opts, { kind: 'restore', memoryFile: ram });
      expect(argv.slice(argv.indexOf('-kernel'))).to.deep.equal(['-kernel', '/k', '-append', 'console=ttyS0']);
    });
  });
});
