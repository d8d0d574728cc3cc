import type { Logger } from '../../shared/logger.js';
import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { AgentConfig } from '../config.js';
import type { HypervisorDriver } from './hypervisor-driver.js';
import { LibvirtDriver } from './libvirt/libvirt-driver.js';
import { QemuDriver } from './qemu/qemu-driver.js';
import { SimulatedDriver } from './simulated/simulated-driver.js';
import { XenDriver } from './xen/xen-driver.js';

/** What some drivers need from outside their own config section. */
export interface DriverContext {
  /** dhcp.dnsmasq.leaseFile: where the simulated guest leases unless hypervisor.simulated.leaseFile says otherwise. */
  dhcpLeaseFile?: string;
  logger?: Logger;
}

/** The hypervisor driver chosen in the config. Throws if the simulated driver has no lease file (the config schema prevents it). */
export function createDriver(config: AgentConfig['hypervisor'], runRoot: string, runner: CommandRunner, context: DriverContext = {}): HypervisorDriver {
  switch (config.driver) {
    case 'qemu':
      return new QemuDriver({ runRoot, runner, ...config.qemu });
    case 'libvirt':
      return new LibvirtDriver({ uri: config.libvirt.uri, domainType: config.libvirt.domainType, bridge: config.libvirt.bridge });
    case 'xen':
      return new XenDriver({ xlPath: config.xen.xl, type: config.xen.type, bridge: config.xen.bridge, runner });
    case 'simulated': {
      const c = config.simulated;
      const leaseFile = c.leaseFile ?? context.dhcpLeaseFile;
      if (!leaseFile) throw new Error('hypervisor.simulated.leaseFile is required unless dhcp.backend is dnsmasq');
      return new SimulatedDriver({
        runRoot, leaseFile, startDelayMs: c.startDelay, bootDelayMs: c.bootDelay, failStart: c.failStart, runner,
        ...(c.guestCommand ? { guestCommand: c.guestCommand } : {}),
        ...(c.haltCommand ? { haltCommand: c.haltCommand } : {}),
        ...(context.logger ? { logger: context.logger } : {}),
      });
    }
  }
}
