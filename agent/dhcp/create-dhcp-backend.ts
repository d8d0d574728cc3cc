import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { AgentConfig } from '../config.js';
import type { DhcpBackend } from './dhcp-backend.js';
import { DnsmasqBackend } from './dnsmasq-backend.js';
import { IscDhcpdBackend } from './isc-dhcpd-backend.js';

/** The DHCP backend chosen in the config (the schema guarantees its section is present). */
export function createDhcpBackend(config: AgentConfig['dhcp'], runner: CommandRunner): DhcpBackend {
  if (config.backend === 'isc-dhcpd' && config.iscDhcpd) {
    const c = config.iscDhcpd;
    return new IscDhcpdBackend({
      hostsFile: c.hostsFile, mainConfig: c.mainConfig, logFile: c.logFile, reloadCommand: c.reloadCommand, dhcpdPath: c.dhcpd, runner,
    });
  }
  if (config.backend === 'dnsmasq' && config.dnsmasq) {
    const c = config.dnsmasq;
    return new DnsmasqBackend({ hostsDir: c.hostsDir, leaseFile: c.leaseFile, loadTimeoutMs: c.loadTimeout, ...(c.logFile ? { logFile: c.logFile } : {}), ...(c.pidFile ? { pidFile: c.pidFile } : {}) });
  }
  throw new Error(`dhcp.${config.backend} section missing`);
}
