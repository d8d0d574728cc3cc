import os from 'node:os';
import path from 'node:path';
import {
  checkOwnIdentity,
  checkProgram,
  checkReadableFile,
  checkTlsFiles,
  checkWritableDir,
  checkWritableFile,
  type PreflightProblem,
} from '../shared/daemon/preflight.js';
import { errorMessage } from '../shared/errors.js';
import { validateHostname } from '../shared/validation.js';
import type { AgentConfig } from './config.js';

/** What the checks may look at besides the config (parameters for tests). */
export interface AgentPreflightOptions {
  /** --insecure: no TLS needed. */
  insecure: boolean;
  /** PATH programs are looked up on (default: this process's). */
  searchPath?: string;
  /** Wall clock for certificate validity (default: now). */
  nowMs?: number;
  /** The OS hostname, used when the config has no hostName (default: os.hostname()). */
  osHostname?: string;
}

/**
 * `vonode-agent --check`: everything Agent.start() needs beyond a valid
 * config file, checked read-only: the TLS files and the certificate's role
 * and name (unless --insecure and none are configured), the directories it writes (each existing and writable, or
 * creatable under a writable parent: nothing is created), the DHCP backend's
 * files and programs, the hypervisor's programs on PATH, and the name it
 * registers under. Returns every problem, each saying what to do.
 */
export async function agentPreflight(config: AgentConfig, options: AgentPreflightOptions): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const add = (p: PreflightProblem | undefined): void => void (p && problems.push(p));
  const searchPath = options.searchPath ?? process.env['PATH'] ?? '';
  const program = (field: string, name: string, hint: string): Promise<PreflightProblem | undefined> => checkProgram(field, name, { searchPath, hint });

  const hostName = config.hostName ?? options.osHostname ?? os.hostname();
  if (config.coordinator) {
    try {
      validateHostname('hostName', hostName);
    } catch (e) {
      add({ field: 'hostName', message: `${errorMessage(e).replace(/^invalid hostName: /, '')}; the coordinator would refuse it: set hostName` });
    }
  }
  if (config.tls) {
    const files = await checkTlsFiles(config.tls, options.nowMs);
    // Only readable, well-formed files can be checked for their role (and, registering, the host name) and against the CRL.
    problems.push(...(files.length ? files : await checkOwnIdentity(config.tls, { role: 'agent', ...(config.coordinator ? { name: hostName } : {}) })));
  } else if (!options.insecure) {
    add({ field: 'tls', message: 'is not configured: add tls.ca, tls.cert and tls.key (scripts/pki/make-site-pki.sh makes them), or pass --insecure for local development' });
  }

  add(await checkWritableDir('stateDir', config.stateDir));
  if (config.images.dir) add(await checkWritableDir('images.dir', config.images.dir));
  if (config.listen.startsWith('unix:')) add(await checkWritableDir('listen', path.dirname(config.listen.slice('unix:'.length))));

  const { dnsmasq, iscDhcpd } = config.dhcp;
  if (config.dhcp.backend === 'dnsmasq' && dnsmasq) {
    add(await checkWritableDir('dhcp.dnsmasq.hostsDir', dnsmasq.hostsDir));
    add(await checkWritableDir('dhcp.dnsmasq.leaseFile', path.dirname(dnsmasq.leaseFile)));
    if (dnsmasq.logFile) add(await checkWritableDir('dhcp.dnsmasq.logFile', path.dirname(dnsmasq.logFile)));
  }
  if (config.dhcp.backend === 'isc-dhcpd' && iscDhcpd) {
    add(await checkWritableFile('dhcp.iscDhcpd.hostsFile', iscDhcpd.hostsFile));
    add(await checkReadableFile('dhcp.iscDhcpd.mainConfig', iscDhcpd.mainConfig));
    add(await program('dhcp.iscDhcpd.dhcpd', iscDhcpd.dhcpd, 'install isc-dhcp-server or set dhcp.iscDhcpd.dhcpd'));
    const reload = iscDhcpd.reloadCommand[0];
    if (reload) add(await program('dhcp.iscDhcpd.reloadCommand', reload, 'install it or fix dhcp.iscDhcpd.reloadCommand'));
  }

  const hv = config.hypervisor;
  // Overlays and image formats go through qemu-img for every real driver; the simulated one boots nothing.
  if (hv.driver !== 'simulated') add(await program(`hypervisor.${hv.driver}`, 'qemu-img', 'install qemu-utils (instance disks are qcow2 overlays)'));
  if (hv.driver === 'qemu') add(await program('hypervisor.qemu.binary', hv.qemu.binary, 'install qemu-system-x86 or set hypervisor.qemu.binary'));
  if (hv.driver === 'libvirt') add(await program('hypervisor.libvirt', 'virsh', 'install libvirt-clients'));
  if (hv.driver === 'xen') add(await program('hypervisor.xen.xl', hv.xen.xl, 'install the Xen tools or set hypervisor.xen.xl'));
  if (hv.driver === 'simulated') {
    for (const field of ['guestCommand', 'haltCommand'] as const) {
      const argv0 = hv.simulated[field]?.[0];
      if (argv0) add(await program(`hypervisor.simulated.${field}`, argv0, `install it or fix hypervisor.simulated.${field}`));
    }
  }
  return problems;
}
