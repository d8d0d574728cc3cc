import { expect } from 'chai';
import type { DomainConfig } from '../../../../../agent/hypervisor/hypervisor-driver.js';
import { renderXlConfig, type XlGuestType } from '../../../../../agent/hypervisor/xen/xl-config.js';
import { InvalidArgumentError } from '../../../../../shared/errors.js';
import { buildFakexenShim, validateXlConfig } from '../../../../helpers/xl-validator.js';

// The parts of libxl's domain config JSON (as `xl -N create` prints it) the
// tests look at. libxl omits fields left at their default, e.g. on_poweroff
// and on_crash = destroy.
interface LibxlJson {
  c_info: { type: string; name: string };
  b_info: {
    max_vcpus: number;
    max_memkb: number;
    target_memkb: number;
    kernel?: string;
    ramdisk?: string;
    cmdline?: string;
    bootloader?: string;
  };
  disks: { pdev_path: string; vdev: string; format: string; readwrite: number }[];
  nics: { mac: string; bridge: string }[];
  on_poweroff?: string;
  on_reboot?: string;
  on_crash?: string;
}

interface Case {
  type: XlGuestType;
  kernel: boolean;
  config: DomainConfig;
  bridge: string;
}

function domain(n: number, overrides: Partial<DomainConfig> = {}): DomainConfig {
  const hostname = `vwn-bio-00${n}`;
  return {
    name: `vn-${hostname}`,
    hostname,
    mac: `52:54:00:77:00:0${n}`,
    ip: `10.77.0.1${n}`,
    vcpus: n,
    memoryMb: 256 * n,
    diskPath: `/var/lib/vonode/instances/vn-${hostname}.qcow2`,
    diskFormat: 'qcow2',
    runDir: `/var/lib/vonode/run/vn-${hostname}`,
    ...overrides,
  };
}

const directBoot = {
  kernelPath: '/var/lib/vonode/cache/kernels/vmlinuz-6.1.0-56-cloud-amd64',
  initrdPath: '/var/lib/vonode/cache/kernels/initrd.img-6.1.0-56-cloud-amd64',
  cmdline: 'root=/dev/xvda1 ro console=hvc0,115200 quiet',
};

// Every type with and without a kernel; values differ per row so a match
// cannot come from a default or a neighbouring case.
const cases: Case[] = (['pvh', 'pv', 'hvm'] as const).flatMap((type, i) => [
  { type, kernel: true, bridge: `xenbr${i}`, config: domain(2 * i + 1, directBoot) },
  { type, kernel: false, bridge: `br-vo${i}`, config: domain(2 * i + 2) },
]);

async function parsed(text: string): Promise<LibxlJson> {
  const result = await validateXlConfig(text);
  expect(result.diagnostics, `xl diagnostics for:\n${text}`).to.deep.equal([]);
  expect(result.ok).to.equal(true);
  return result.json as LibxlJson;
}

describe('agent/hypervisor/xen renderXlConfig (checked by the real xl 4.17 parser)', function () {
  this.timeout(60_000);

  before(async () => {
    // Fails (never skips) with an install hint if xl or gcc is missing.
    await buildFakexenShim();
  });

  for (const c of cases) {
    it(`${c.type} ${c.kernel ? 'with direct kernel boot' : 'booting its own disk'}: zero diagnostics and the right libxl JSON`, async () => {
      const json = await parsed(renderXlConfig(c.config, { type: c.type, bridge: c.bridge }));
      expect(json.c_info).to.include({ type: c.type, name: c.config.name });
      expect(json.b_info.max_memkb).to.equal(c.config.memoryMb * 1024);
      expect(json.b_info.target_memkb).to.equal(c.config.memoryMb * 1024);
      expect(json.b_info.max_vcpus).to.equal(c.config.vcpus);
      expect(json.nics).to.have.length(1);
      expect(json.nics[0]).to.include({ mac: c.config.mac, bridge: c.bridge });
      expect(json.disks).to.have.length(1);
      expect(json.disks[0]).to.include({ pdev_path: c.config.diskPath, format: 'qcow2', vdev: 'xvda', readwrite: 1 });
      expect(json.on_reboot).to.equal('restart');
      // Absent means libxl's default, which is destroy for both.
      expect(json.on_poweroff ?? 'destroy').to.equal('destroy');
      expect(json.on_crash ?? 'destroy').to.equal('destroy');
      if (c.kernel) {
        expect(json.b_info).to.include({ kernel: directBoot.kernelPath, ramdisk: directBoot.initrdPath, cmdline: directBoot.cmdline });
        expect(json.b_info.bootloader).to.equal(undefined);
      } else {
        expect(json.b_info.kernel).to.equal(undefined);
        expect(json.b_info.bootloader).to.equal(c.type === 'hvm' ? undefined : 'pygrub');
      }
    });
  }

  it('passes a raw disk format and a kernel without initrd or cmdline (console default per type)', async () => {
    const pvh = await parsed(
      renderXlConfig(domain(1, { diskFormat: 'raw', diskPath: '/srv/vonode/disk.img', kernelPath: '/boot/vmlinuz' }), { type: 'pvh', bridge: 'xenbr0' }),
    );
    expect(pvh.disks[0]).to.include({ pdev_path: '/srv/vonode/disk.img', format: 'raw' });
    expect(pvh.b_info).to.include({ kernel: '/boot/vmlinuz', cmdline: 'console=hvc0' });
    expect(pvh.b_info.ramdisk).to.equal(undefined);
    const hvm = await parsed(renderXlConfig(domain(2, { kernelPath: '/boot/vmlinuz' }), { type: 'hvm', bridge: 'xenbr0' }));
    expect(hvm.b_info.cmdline).to.equal('console=ttyS0');
  });

  describe('the validator is not vacuous', () => {
    const good = (vif: string, memory = '256'): string =>
      ['name = "vn-neg"', 'type = "pvh"', 'kernel = "/boot/vmlinuz"', `memory = ${memory}`, 'vcpus = 1', `vif = [ "${vif}" ]`, ''].join('\n');

    it('accepts the hand-written baseline', async () => {
      expect((await validateXlConfig(good('mac=00:16:3e:12:34:56, bridge=xenbr0'))).ok).to.equal(true);
    });

    const bad: [string, string, RegExp][] = [
      ['a misspelled vif key (xl exits 0)', good('mac=00:16:3e:12:34:56, brigde=xenbr0'), /unrecognized argument `brigde=xenbr0'/],
      ['a MAC that is not hex (xl exits 0)', good('mac=zz:16:3e:12:34:56, bridge=xenbr0'), /Invalid parameter `mac'/],
      ['a non-numeric memory (xl exits 0)', good('mac=00:16:3e:12:34:56, bridge=xenbr0', '"lots"'), /parameter `memory' is not a valid number/],
      ['a syntax error', good('mac=00:16:3e:12:34:56, bridge=xenbr0').replace('vcpus = 1', 'vcpus = one two'), /config parsing error/],
      ['a PVH guest with neither kernel nor bootloader', good('mac=00:16:3e:12:34:56, bridge=xenbr0').replace(/^kernel.*$/m, ''), /Neither kernel nor bootloader/],
    ];
    for (const [what, text, diagnostic] of bad) {
      it(`reports ${what}`, async () => {
        const result = await validateXlConfig(text);
        expect(result.ok).to.equal(false);
        expect(result.diagnostics.join('\n')).to.match(diagnostic);
      });
    }

    it('shows why the JSON is checked too: xl silently mangles a MAC with one bad digit', async () => {
      const result = await validateXlConfig(good('mac=00:16:3e:12:34:5g, bridge=xenbr0'));
      expect(result.diagnostics).to.deep.equal([]);
      expect((result.json as LibxlJson).nics[0]?.mac).to.equal('00:16:3e:12:34:05');
    });

    it('shows why commas are refused in spec values: xl splits a vif spec on a bare comma too', async () => {
      const result = await validateXlConfig(good('mac=00:16:3e:12:34:56,bridge=xenbr0,script=/bin/evil'));
      expect(result.diagnostics).to.deep.equal([]);
      expect((result.json as { nics: { script?: string }[] }).nics[0]?.script).to.equal('/bin/evil');
    });
  });

  describe('refuses values that could break out of their field', () => {
    const refused: [string, Partial<DomainConfig>, string?][] = [
      ['name', { name: 'vn-a" type="hvm' }],
      ['name', { name: 'vn-a\nkernel = "/evil"' }],
      ['mac', { mac: '52:54:00:77:00:01, bridge=evil' }],
      ['mac', { mac: '52:54:00:77:00:01,script=/bin/evil' }],
      ['bridge', {}, 'xenbr0, script=/bin/evil'],
      ['bridge', {}, 'xenbr0"'],
      ['diskPath', { diskPath: '/var/lib/x.qcow2, devtype=cdrom' }],
      ['diskPath', { diskPath: '/var/lib/x.qcow2\non_crash = "preserve"' }],
      ['kernelPath', { kernelPath: '/boot/vmlinuz\\' }],
      ['initrdPath', { kernelPath: '/boot/vmlinuz', initrdPath: '/boot/initrd"' }],
      ['cmdline', { kernelPath: '/boot/vmlinuz', cmdline: 'quiet"\nbootloader = "/bin/evil' }],
      ['cmdline', { kernelPath: '/boot/vmlinuz', cmdline: 'quiet\r' }],
      ['memoryMb', { memoryMb: Number.NaN }],
      ['memoryMb', { memoryMb: 1.5 }],
      ['vcpus', { vcpus: 0 }],
      ['diskFormat', { diskFormat: 'vmdk' as DomainConfig['diskFormat'] }],
      ['name', { name: '' }],
    ];
    for (const [field, overrides, bridge] of refused) {
      const shown: unknown = bridge ?? Object.values(overrides).at(-1);
      it(`${field} = ${typeof shown === 'string' ? JSON.stringify(shown) : String(shown)}`, () => {
        const render = (): string => renderXlConfig(domain(1, overrides), { type: 'pvh', bridge: bridge ?? 'xenbr0' });
        expect(render).to.throw(InvalidArgumentError).with.property('field', field);
      });
    }

    it('an unknown guest type', () => {
      expect(() => renderXlConfig(domain(1), { type: 'hvm ' as XlGuestType, bridge: 'xenbr0' }))
        .to.throw(InvalidArgumentError)
        .with.property('field', 'type');
    });

    it('but keeps commas where xl allows them (the kernel command line)', () => {
      const text = renderXlConfig(domain(1, { kernelPath: '/boot/vmlinuz', cmdline: 'console=ttyS0,115200' }), { type: 'pvh', bridge: 'xenbr0' });
      expect(text).to.contain('extra = "console=ttyS0,115200"');
    });
  });
});
