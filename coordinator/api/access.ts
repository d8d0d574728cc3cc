import type { AccessTable } from '../../shared/auth/access-control.js';
import type { Role } from '../../shared/auth/roles.js';
import type { CoordinatorServiceService } from '../../shared/gen/vonode/v1/coordinator.js';

const READERS: readonly Role[] = ['admin', 'operator', 'reader'];
/** The grid services read the site to publish it (GridWay's MAD, the BDII provider). */
const SITE_READERS: readonly Role[] = [...READERS, 'gridway', 'infosys'];

/**
 * Who may call each RPC of vonode.v1.CoordinatorService (docs/access.md shows
 * it as a table). Checked by shared/auth's interceptor before any handler
 * runs; an RPC missing here does not compile.
 */
export const COORDINATOR_ACCESS: AccessTable<typeof CoordinatorServiceService> = {
  // An agent speaks only for the host its certificate names: no certificate can add a phantom host.
  // (No audit line: the registry logs every registration with the host and its address.)
  registerAgent: { roles: ['agent'], actsAs: (r) => r.hostName },
  heartbeat: { roles: ['agent'], actsAs: (r) => r.hostName },
  status: { roles: SITE_READERS },
  listHosts: { roles: SITE_READERS },
  listNodes: { roles: SITE_READERS },
  getPolicy: { roles: SITE_READERS },
  timings: { roles: READERS },
  // Usage records name VOs, nodes and hosts: the readers of the site, not the grid services.
  accounting: { roles: READERS },
  watchEvents: { roles: [...READERS, 'gridway'] },
  deployNodes: { roles: ['admin', 'operator'], audit: true },
  drainNode: { roles: ['admin', 'operator'], audit: true },
  removeNode: { roles: ['admin', 'operator'], audit: true },
  applyPolicy: { roles: ['admin'], audit: true },
  // Ends GW phases: only GridWay's MAD knows when gwd has been told.
  reportVisibility: { roles: ['gridway'] },
};
