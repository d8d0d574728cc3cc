import type { Namespace } from 'etcd3';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';
import type { EtcdFence } from '../store/etcd/etcd-fence.js';

/** The site's policy text as the leader last applied it. */
export const POLICY_KEY = 'policy/current';

/**
 * One policy for every coordinator of an HA site. Each coordinator reads
 * its own policy file, but the leader publishes the text in force under
 * policy/current whenever it changes (`vonode policy apply`, or an edit of
 * the leader's file), and a standby applies what it sees there to its own
 * file (through the same checks as `policy apply`): after a failover the
 * new leader runs the policy the site last decided. A newly elected leader
 * first adopts the published text if its file differs.
 */
export class PolicySync {
  constructor(
    private readonly ns: Namespace,
    private readonly policy: PolicyWatcher,
    private readonly logger: Logger,
  ) {}

  /** Applies the published policy locally if it differs (standbys on every change; a new leader once). */
  async adopt(text: string | undefined): Promise<void> {
    if (text === undefined || text === this.policy.text) return;
    const result = await this.policy.apply(text).catch((e: unknown) => ({ ok: false as const, problems: [errorMessage(e)] }));
    if (result.ok) this.logger.info('applied the policy the leader published');
    else this.logger.error({ problems: result.problems }, 'the policy the leader published was refused here: this coordinator keeps its own until the next one (check its vonode version and policy file)');
  }

  /** The published text, if any. */
  async published(): Promise<string | undefined> {
    return (await this.ns.get(POLICY_KEY).string()) ?? undefined;
  }

  /** From now on, publishes the leader's policy whenever it changes (and now). */
  lead(fence: EtcdFence): () => void {
    const publish = (): void => {
      if (fence.standing?.() !== 'leading') return;
      const text = this.policy.text;
      void this.ns.if(fence.key, 'Create', '==', fence.term).then(this.ns.put(POLICY_KEY).value(text)).commit().catch((e: unknown) =>
        this.logger.warn({ err: errorMessage(e) }, 'could not publish the policy for the standbys; the next change does'),
      );
    };
    this.policy.on('change', publish);
    publish();
    return () => this.policy.off('change', publish);
  }
}
