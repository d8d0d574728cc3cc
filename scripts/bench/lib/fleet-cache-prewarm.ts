// Warm image caches for a simulated agent fleet: before the fleet starts, its
// state files name every appliance the site's policy uses as already cached,
// so deployments on it transfer no images.
import { writeFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import type { FleetSlice } from './fleet-launcher.js';
import type { SimulatedAgentState } from './simulated-agent.js';
import { within } from './site-probes.js';

/**
 * Fills every simulated agent's image cache with the appliances the policy
 * names (GetPolicy, at most `getPolicyMs`), through the fleet's state files,
 * which it reads at start (call before startFleet). Both of console-scale's
 * bursts then run on warm caches; otherwise the first (the baseline) would
 * run cold (simulated PT 10-20 ms instead of 0.5-1 ms, cold transfers 2 at a
 * time) and the comparison would be biased. Logs a warning when the policy
 * names no image; throws if GetPolicy or a write fails.
 */
export async function prewarmFleetCaches(client: CoordinatorClient, fleet: readonly FleetSlice[], getPolicyMs: number, log: (line: string) => void): Promise<void> {
  type PolicyFile = { vos?: Record<string, { appliance?: { disk?: { sha256?: string } } }> };
  const policy = parse((await within(getPolicyMs, 'GetPolicy', client.getPolicy())).yaml) as PolicyFile;
  const images = [...new Set(Object.values(policy.vos ?? {}).map((v) => v.appliance?.disk?.sha256 ?? ''))].filter(Boolean);
  if (!images.length) log('WARNING: the policy names no appliance sha256: the simulated caches start cold');
  for (const slice of fleet) {
    const state: Record<string, SimulatedAgentState> = Object.fromEntries([...slice.names].map((name) => [name, { domains: [], cachedImages: images }]));
    await writeFile(slice.stateFile, JSON.stringify(state));
  }
}
