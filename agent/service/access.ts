import type { AccessTable } from '../../shared/auth/access-control.js';
import type { AgentServiceService } from '../../shared/gen/vonode/v1/agent.js';

/**
 * Who may call each RPC of vonode.v1.AgentService (docs/access.md). The agent
 * obeys only the coordinator: whatever changes the host (domains, DHCP
 * entries, downloads, the cache) needs the coordinator's certificate; admins
 * may look.
 */
export const AGENT_ACCESS: AccessTable<typeof AgentServiceService> = {
  deploy: { roles: ['coordinator'], audit: true },
  remove: { roles: ['coordinator'], audit: true },
  prefetchImage: { roles: ['coordinator'], audit: true },
  evictImage: { roles: ['coordinator'], audit: true },
  listDomains: { roles: ['coordinator', 'admin', 'operator', 'reader'] },
  hostFacts: { roles: ['coordinator', 'admin', 'operator', 'reader'] },
  listImages: { roles: ['coordinator', 'admin', 'operator', 'reader'] },
};
