import type { DomainConfig } from '../hypervisor-driver.js';
import { IDENTITY_PORT_NAME } from '../snapshot.js';

/** Host-side settings of the QEMU driver that shape every domain's command line. */
export interface QemuArgvOptions {
  binary: string;
  /** 'tcg' here: /dev/kvm exists on the CI machines but KVM guests hang. */
  accel: 'tcg' | 'kvm';
  machine: string;
}

/**
 * How the domain starts: `boot` (a normal cold boot), `template` (boot to the
 * appliance's template point, no network backend: the guest never sends a
 * frame, and its state is saved) or `restore` (load a template's saved state
 * from an incoming migration, then take the identity over the identity port).
 * `template` and `restore` have the same devices: QEMU refuses to load state
 * into a machine that differs from the one that saved it. Both keep the
 * guest's RAM in a file: shared (the template writes its memory there) or
 * private (a restore maps it copy-on-write; the file never changes).
 */
export type QemuStartMode = { kind: 'boot' } | { kind: 'template'; memoryFile: string } | { kind: 'restore'; memoryFile: string };

/** Id of the memory backend of template and restore modes (the RAM block's name: equal on both sides of a restore). */
export const TEMPLATE_RAM_ID = 'vnram';

/** Runtime file locations of one QEMU domain, all under its run directory. */
export interface QemuPaths {
  qmpSocket: string;
  pidFile: string;
  consoleLog: string;
  /** Host end of the guest's identity port (virtio-serial), template and restore modes. */
  identitySocket: string;
  /** Where QEMU streams a template's saved state to (the agent listens and writes the file). */
  saveSocket: string;
  /** Where QEMU listens for a template's saved state on restore (the agent connects and streams the file). */
  incomingSocket: string;
}

/** Paths of a domain's runtime files inside runDir. */
export function qemuPaths(runDir: string): QemuPaths {
  return {
    qmpSocket: `${runDir}/qmp.sock`,
    pidFile: `${runDir}/qemu.pid`,
    consoleLog: `${runDir}/console.log`,
    identitySocket: `${runDir}/identity.sock`,
    saveSocket: `${runDir}/save.sock`,
    incomingSocket: `${runDir}/incoming.sock`,
  };
}

/**
 * The QEMU argv for a domain. -S holds the CPUs until QMP `cont` so VMB can be
 * measured from creation to running; -daemonize detaches QEMU so the domain
 * outlives an agent restart; no -no-shutdown, so a guest poweroff ends QEMU.
 */
export function buildQemuArgv(config: DomainConfig, tap: string, options: QemuArgvOptions, mode: QemuStartMode = { kind: 'boot' }): string[] {
  const paths = qemuPaths(config.runDir);
  const argv = [
    options.binary,
    '-name', `${config.name},process=${config.name}`,
    '-accel', options.accel,
    '-machine', mode.kind === 'boot' ? options.machine : `${options.machine},memory-backend=${TEMPLATE_RAM_ID}`,
    '-m', String(config.memoryMb),
    '-smp', String(config.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-S', '-daemonize', '-pidfile', paths.pidFile,
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
    '-serial', `file:${paths.consoleLog}`,
    // A template has no network backend at all (a hub port leading nowhere): its guest is saved before
    // it may send anything, and a restored copy gets the host's tap.
    '-netdev', mode.kind === 'template' ? 'hubport,id=n0,hubid=0' : `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,mac=${config.mac}`,
    '-drive', `file=${config.diskPath},if=none,id=d0,format=${config.diskFormat},cache=writeback`,
    '-device', 'virtio-blk-pci,drive=d0',
  ];
  if (mode.kind !== 'boot') {
    const share = mode.kind === 'template' ? 'on' : 'off';
    argv.push(
      '-object', `memory-backend-file,id=${TEMPLATE_RAM_ID},size=${config.memoryMb}M,mem-path=${mode.memoryFile},share=${share}`,
      '-chardev', `socket,id=vnid,path=${paths.identitySocket},server=on,wait=off`,
      '-device', 'virtio-serial-pci,id=vser0',
      '-device', `virtserialport,bus=vser0.0,chardev=vnid,name=${IDENTITY_PORT_NAME}`,
    );
  }
  if (mode.kind === 'restore') argv.push('-incoming', 'defer');
  if (config.kernelPath) {
    argv.push('-kernel', config.kernelPath);
    if (config.initrdPath) argv.push('-initrd', config.initrdPath);
    argv.push('-append', config.cmdline ?? 'console=ttyS0');
  }
  return argv;
}
