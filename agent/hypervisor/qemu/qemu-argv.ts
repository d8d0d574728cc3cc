import type { DomainConfig } from '../hypervisor-driver.js';

/** Host-side settings of the QEMU driver that shape every domain's command line. */
export interface QemuArgvOptions {
  binary: string;
  /** 'tcg' here: /dev/kvm exists on the CI machines but KVM guests hang. */
  accel: 'tcg' | 'kvm';
  machine: string;
}

/** Runtime file locations of one QEMU domain, all under its run directory. */
export interface QemuPaths {
  qmpSocket: string;
  pidFile: string;
  consoleLog: string;
}

/** Paths of a domain's runtime files inside runDir. */
export function qemuPaths(runDir: string): QemuPaths {
  return { qmpSocket: `${runDir}/qmp.sock`, pidFile: `${runDir}/qemu.pid`, consoleLog: `${runDir}/console.log` };
}

/**
 * The QEMU argv for a domain. -S holds the CPUs until QMP `cont` so VMB can be
 * measured from creation to running; -daemonize detaches QEMU so the domain
 * outlives an agent restart; no -no-shutdown, so a guest poweroff ends QEMU.
 */
export function buildQemuArgv(config: DomainConfig, tap: string, options: QemuArgvOptions): string[] {
  const paths = qemuPaths(config.runDir);
  const argv = [
    options.binary,
    '-name', `${config.name},process=${config.name}`,
    '-accel', options.accel,
    '-machine', options.machine,
    '-m', String(config.memoryMb),
    '-smp', String(config.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-S', '-daemonize', '-pidfile', paths.pidFile,
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
    '-serial', `file:${paths.consoleLog}`,
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,mac=${config.mac}`,
    '-drive', `file=${config.diskPath},if=none,id=d0,format=${config.diskFormat},cache=writeback`,
    '-device', 'virtio-blk-pci,drive=d0',
  ];
  if (config.kernelPath) {
    argv.push('-kernel', config.kernelPath);
    if (config.initrdPath) argv.push('-initrd', config.initrdPath);
    argv.push('-append', config.cmdline ?? 'console=ttyS0');
  }
  return argv;
}
