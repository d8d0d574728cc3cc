import type { ChannelCredentials } from '@grpc/grpc-js';
import { checkHealth } from '../../../coordinator/cli/health-client.js';

/** What the probe saw: checks made, how many took more than 1 s or failed, and the slowest (ms). */
export interface HealthProbeStats {
  checks: number;
  late: number;
  failed: number;
  maxMs: number;
}

/**
 * grpc.health.v1 Check against the coordinator every `everyMs` (each on a
 * new connection, as a monitoring probe makes it) until stopped: a check
 * answered after more than 1 s, or not at all within 5 s, counts against
 * the coordinator's responsiveness. Returns stop(), which resolves with the
 * stats once the check in flight has ended.
 */
export function startHealthProbe(address: string, creds: ChannelCredentials, everyMs = 500): () => Promise<HealthProbeStats> {
  const stats: HealthProbeStats = { checks: 0, late: 0, failed: 0, maxMs: 0 };
  let stopped = false;
  const loop = (async (): Promise<void> => {
    while (!stopped) {
      const t0 = performance.now();
      const ok = await checkHealth(address, creds, '', 5000).then((s) => s === 'SERVING', () => false);
      const ms = performance.now() - t0;
      stats.checks++;
      if (!ok) stats.failed++;
      else if (ms > 1000) stats.late++;
      stats.maxMs = Math.max(stats.maxMs, ms);
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - ms)));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return stats;
  };
}
