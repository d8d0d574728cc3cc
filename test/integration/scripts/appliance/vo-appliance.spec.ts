import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureVoAppliance, type VoApplianceManifest } from '../../../../scripts/testbed/lib/appliance.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

// A VO appliance (scripts/appliance/build-vo-appliance.sh) for the VO "bio":
// the image is inspected on the host (chroot into the unpacked initramfs) and
// booted under QEMU TCG with user-mode networking (restrict=on: a DHCP lease
// and nothing reachable), so there is no qmaster: the guest must show its VO
// marker and tool and try to start sge_execd against the master named on its
// kernel command line.
describe('VO appliance (scripts/appliance/build-vo-appliance.sh): marker, tool and sge_execd', function () {
  this.timeout(600_000);
  const runner = new ProcessRunner();
  const applianceId = 'bio-test-0001';
  let app: VoApplianceManifest;
  let work: string;
  let tree: string;
  let qemu: ChildProcess | undefined;

  before(async () => {
    app = await ensureVoAppliance(process.env['VONODE_TEST_VO_APPLIANCE'] ?? path.join(os.tmpdir(), 'vonode-vo-appliance-bio'), 'bio', { applianceId, packages: ['seqtk'] });
    work = await tempDir('vonode-vo-app-');
    tree = path.join(work, 'tree');
    await mkdir(tree);
    await runChecked(runner, ['sh', '-c', 'zcat "$1" | (cd "$2" && cpio -idm --quiet)', 'sh', path.join(app.dir, 'initrd.gz'), tree]);
  });
  after(async () => {
    if (qemu && qemu.exitCode === null) qemu.kill('SIGKILL');
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes a manifest naming the VO and the appliance id', () => {
    expect(app).to.include({ vo: 'bio', applianceId, voAppliance: true });
    expect(app.files['initrd.gz'].sha256).to.match(/^[0-9a-f]{64}$/);
  });

  it('carries the VO marker, the VO tool and users for the SGE admin and jobs', async () => {
    expect(await readFile(path.join(tree, 'etc/vonode-vo'), 'utf8')).to.equal(`vo=bio appliance=${applianceId}\n`);
    const tool = await runChecked(runner, ['chroot', tree, '/usr/local/bin/bio-tool']);
    expect(tool.stdout.trim()).to.match(new RegExp(`^vo=bio appliance=${applianceId} kernel=\\S+ software=seqtk=\\S+$`));
    const passwd = (await readFile(path.join(tree, 'etc/passwd'), 'utf8')).split('\n').filter(Boolean).map((l) => l.split(':'));
    expect(passwd.map((p) => p[0])).to.include.members(['root', 'sgeadmin', 'nobody', 'vojob']);
    expect(Number(passwd.find((p) => p[0] === 'vojob')![2])).to.be.at.least(1000);
    expect(await readFile(path.join(tree, 'etc/vonode/sge-cell/bootstrap'), 'utf8')).to.match(/^admin_user\s+sgeadmin$/m);
  });

  it('contains sge_execd and sge_shepherd with every shared library resolvable inside the image', async () => {
    for (const bin of ['sge_execd', 'sge_shepherd']) {
      await access(path.join(tree, 'usr/lib/gridengine', bin));
      // The image's own dynamic loader, without the host's libraries or ld.so.cache.
      const r = await runChecked(runner, ['chroot', tree, '/lib64/ld-linux-x86-64.so.2', '--list', `/usr/lib/gridengine/${bin}`]);
      expect(r.stdout, bin).to.not.contain('not found');
      const libs = [...r.stdout.matchAll(/=> (\/\S+)/g)].map((m) => m[1]!);
      expect(libs, bin).to.include.members(['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libmunge.so.2', '/lib/x86_64-linux-gnu/libhwloc.so.15']);
      for (const lib of libs) expect((await stat(path.join(tree, lib))).isFile(), lib).to.equal(true);
    }
    // The VO's own software (--vo-package seqtk) works in there too.
    const seqtk = await runChecked(runner, ['chroot', tree, '/bin/sh', '-c', "printf '>r\\nGATTACA\\n' | /usr/bin/seqtk seq -r -"]);
    expect(seqtk.stdout).to.equal('>r\nTGTAATC\n');
    // It really starts in there (and stops at the missing SGE_ROOT).
    const r = await runner.run(['chroot', tree, '/bin/env', '-i', '/usr/sbin/sge_execd']);
    expect(r.stdout + r.stderr).to.contain('SGE_ROOT');
  });

  it('boots under QEMU TCG, prints marker and tool, and starts sge_execd against the master from the command line', async () => {
    const consoleLog = path.join(work, 'console.log');
    const cmdline = [
      'console=ttyS0 panic=-1 quiet',
      'vonode.hostname=vwn-bio-001',
      'vonode.sge_master=sge-master vonode.sge_master_ip=10.0.2.9 vonode.sge_cell=default vonode.sge_root=/opt/sge',
    ].join(' ');
    qemu = spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '256', '-smp', '1', '-no-reboot', '-nodefaults', '-display', 'none', '-monitor', 'none',
      '-kernel', path.join(app.dir, 'vmlinuz'), '-initrd', path.join(app.dir, 'initrd.gz'), '-append', cmdline,
      '-drive', `file=${path.join(app.dir, 'disk.qcow2')},if=virtio,format=qcow2,snapshot=on`,
      '-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0',
      '-serial', `file:${consoleLog}`,
    ], { stdio: 'ignore' });
    const read = (): Promise<string> => readFile(consoleLog, 'utf8').catch(() => '');
    // The execd runs in the foreground (SGE_ND=1) with its messages on the console: without a qmaster it says so and keeps trying.
    const noMaster = "can't get configuration from qmaster";
    for (let i = 0; i < 900 && !(await read()).includes(noMaster) && qemu.exitCode === null; i++) await new Promise((s) => setTimeout(s, 100));
    const lines = (await read()).split(/\r?\n/);
    const line = (tag: string): string => lines.find((l) => l.startsWith(tag)) ?? '';
    expect(line('VONODE-VO-MARKER'), 'marker line').to.equal(`VONODE-VO-MARKER vo=bio appliance=${applianceId}`);
    expect(line('VONODE-VO-TOOL'), 'tool line').to.match(new RegExp(`^VONODE-VO-TOOL vo=bio appliance=${applianceId} kernel=${app.kernelRelease} software=seqtk=\\S+$`));
    expect(line('VONODE-SGE-EXECD-START'), 'execd start line').to.match(/^VONODE-SGE-EXECD-START master=sge-master master_ip=10\.0\.2\.9 cell=default root=\/opt\/sge host=vwn-bio-001 ip=10\.0\.2\.15 lease_uptime=\d+\.\d+ uptime=\d+\.\d+$/);
    expect(line('VONODE-GUEST-READY'), 'readiness line').to.contain('ip=10.0.2.15').and.contain('hostname=vwn-bio-001').and.contain(`appliance=vo=bio appliance=${applianceId}`);
    // No qmaster: sge_execd ran (its libraries loaded, it found the cell) and
    // could not reach the master, so it keeps trying in the foreground.
    const text = await read();
    expect(text, 'execd message').to.contain(noMaster);
    expect(text).to.not.match(/error while loading shared libraries|SGE_ROOT|unknown user/i);
    expect(line('VONODE-SGE-EXECD-EXIT'), 'the execd keeps running').to.equal('');
  });
});
