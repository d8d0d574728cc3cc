import { readFile } from 'node:fs/promises';

/** Where a testbed host's dnsmasq keeps its files, and what it serves. */
export interface DnsmasqFiles {
  /** The bridge it answers on. */
  bridge: string;
  /** The network's first three octets, e.g. "10.130.0". */
  prefix: string;
  /** --dhcp-hostsdir: one file per reservation, written by the vonode-agent. */
  hostsDir: string;
  leaseFile: string;
  logFile: string;
  pidFile: string;
  /**
   * Answer only the MACs this host reserved. Needed when several hosts'
   * dnsmasqs share one LAN (the testbed's cluster LAN): each must stay silent
   * for the others' guests instead of refusing them.
   */
  onlyKnownClients?: boolean;
}

/**
 * argv of a dnsmasq in static-lease mode, the way a vonode host runs it: DHCP
 * only (no DNS), addresses only from the agent's reservations, daemonised
 * with a PID file.
 */
export function dnsmasqArgv(f: DnsmasqFiles): string[] {
  return [
    'dnsmasq',
    '--conf-file=/dev/null', '--port=0', '--bind-interfaces', `--interface=${f.bridge}`, '--except-interface=lo',
    `--dhcp-range=${f.prefix}.0,static,255.255.255.0,1h`,
    `--dhcp-hostsdir=${f.hostsDir}`, `--dhcp-leasefile=${f.leaseFile}`,
    ...(f.onlyKnownClients ? ['--dhcp-ignore=tag:!known'] : ['--dhcp-authoritative']),
    '--log-dhcp', `--log-facility=${f.logFile}`,
    `--pid-file=${f.pidFile}`, '--user=root',
  ];
}

/** Stops the dnsmasq that wrote `pidFile` (SIGTERM); does nothing if the file is missing or the process is gone. */
export async function stopDnsmasq(pidFile: string): Promise<void> {
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
