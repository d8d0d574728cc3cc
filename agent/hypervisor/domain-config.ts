/**
 * Everything a driver needs to create one domain. All values were validated
 * by the deployer before they got here (hostnames, MACs, safe absolute paths),
 * so drivers can place them in config files without further escaping.
 */
export interface DomainConfig {
  /** Domain name, derived from the pool hostname (see domainNameFor). */
  name: string;
  hostname: string;
  mac: string;
  /** IPv4 address of the guest's DHCP reservation (real guests get it by DHCP; the simulated guest leases it directly). */
  ip: string;
  vcpus: number;
  memoryMb: number;
  /** Instance disk (qcow2 overlay on the cached appliance). */
  diskPath: string;
  diskFormat: 'qcow2' | 'raw';
  /** Direct kernel boot; all three are absent for a disk that boots itself. */
  kernelPath?: string;
  initrdPath?: string;
  cmdline?: string;
  /** Host directory for this domain's runtime files (console log, sockets, generated config). */
  runDir: string;
}
