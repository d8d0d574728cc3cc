import type { Clock } from '../../shared/clock.js';
import { CommandFailedError, type CommandRunner } from '../../shared/process/command-runner.js';

/** Where the probe asks, and how often. */
export interface PublicationProbeOptions {
  /** LDAP URL of the BDII, e.g. ldap://bdii.site:2170. */
  ldapUrl: string;
  /** GLUE 2.0 base the provider publishes under. */
  base: string;
  pollIntervalMs: number;
  runner: CommandRunner;
  clock: Clock;
}

/** Parses `ldapsearch -LLL` output of ExecutionEnvironments into resource id → TotalInstances. */
export function parseTotalInstances(ldif: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const block of ldif.split(/\n\s*\n/)) {
    const id = /^GLUE2ResourceID: (.+)$/m.exec(block)?.[1]?.trim();
    const total = /^GLUE2ExecutionEnvironmentTotalInstances: (\d+)$/m.exec(block)?.[1];
    if (id && total !== undefined) out.set(id, Number(total));
  }
  return out;
}

/**
 * The PUB phase's end: polls the real BDII with ldapsearch until the VO's
 * GLUE 2.0 ExecutionEnvironment (`*_<queue>_vonode`) counts at least the
 * nodes the VO has, i.e. the new capacity is what a broker would read.
 */
export class PublicationProbe {
  constructor(private readonly options: PublicationProbeOptions) {}

  /** Resolves with details once the queue's published instances reach `atLeast`; rejects on abort. */
  async waitFor(queue: string, atLeast: number, signal: AbortSignal): Promise<Record<string, string>> {
    const { options } = this;
    let polls = 0;
    for (;;) {
      signal.throwIfAborted();
      polls++;
      const published = await this.instances(queue);
      if (published >= atLeast) return { published: String(published), polls: String(polls) };
      await options.clock.sleep(options.pollIntervalMs, signal);
    }
  }

  private async instances(queue: string): Promise<number> {
    const { ldapUrl, base, runner } = this.options;
    const filter = `(&(objectClass=GLUE2ExecutionEnvironment)(GLUE2ResourceID=*_${queue}_vonode))`;
    const argv = ['ldapsearch', '-x', '-LLL', '-o', 'ldif-wrap=no', '-H', ldapUrl, '-b', base, filter, 'GLUE2ResourceID', 'GLUE2ExecutionEnvironmentTotalInstances'];
    const out = await runner.run(argv);
    // 32 = no such object: the BDII has not published the tree yet (first cycle).
    if (out.code === 32) return 0;
    if (out.code !== 0) throw new CommandFailedError(argv, out);
    let total = 0;
    for (const n of parseTotalInstances(out.stdout).values()) total += n;
    return total;
  }
}
