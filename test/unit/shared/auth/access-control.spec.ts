import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { PeerCertificate } from 'node:tls';
import { authorizeCall, authorizeRequest, resolveAccessTable } from '../../../../shared/auth/access-control.js';
import { ROLES, type Role } from '../../../../shared/auth/roles.js';
import { CoordinatorServiceService } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { AgentServiceService } from '../../../../shared/gen/vonode/v1/agent.js';
import { COORDINATOR_ACCESS } from '../../../../coordinator/api/access.js';
import { AGENT_ACCESS } from '../../../../agent/service/access.js';

const certOf = (name: string, role: Role | undefined, serial = '1F'): PeerCertificate =>
  ({ raw: Buffer.from('x'), subject: { CN: name }, subjectaltname: role ? `DNS:${name}, URI:urn:vonode:role:${role}` : `DNS:${name}`, serialNumber: serial }) as unknown as PeerCertificate;

const coordinator = resolveAccessTable(CoordinatorServiceService, COORDINATOR_ACCESS);
const agent = resolveAccessTable(AgentServiceService, AGENT_ACCESS);
const path = (m: string, svc = 'CoordinatorService'): string => `/vonode.v1.${svc}/${m}`;
const noRevocations = { isRevoked: (): boolean => false };

describe('shared/auth/access-control', () => {
  // The role table as the docs state it: [method, roles that may call it].
  const coordinatorTable: Array<[string, Role[]]> = [
    ['RegisterAgent', ['agent']],
    ['Heartbeat', ['agent']],
    ['Status', ['admin', 'operator', 'reader', 'gridway', 'infosys']],
    ['ListHosts', ['admin', 'operator', 'reader', 'gridway', 'infosys']],
    ['ListNodes', ['admin', 'operator', 'reader', 'gridway', 'infosys']],
    ['GetPolicy', ['admin', 'operator', 'reader', 'gridway', 'infosys']],
    ['Timings', ['admin', 'operator', 'reader']],
    ['Accounting', ['admin', 'operator', 'reader']],
    ['WatchEvents', ['admin', 'operator', 'reader', 'gridway']],
    ['DeployNodes', ['admin', 'operator']],
    ['DrainNode', ['admin', 'operator']],
    ['RemoveNode', ['admin', 'operator']],
    ['ApplyPolicy', ['admin']],
    ['ReportVisibility', ['gridway']],
  ];
  const agentTable: Array<[string, Role[]]> = [
    ['Deploy', ['coordinator']],
    ['Remove', ['coordinator']],
    ['PrefetchImage', ['coordinator']],
    ['EvictImage', ['coordinator']],
    ['ListDomains', ['coordinator', 'admin', 'operator', 'reader']],
    ['HostFacts', ['coordinator', 'admin', 'operator', 'reader']],
    ['ListImages', ['coordinator', 'admin', 'operator', 'reader']],
  ];

  for (const [table, byPath, svc, rows] of [['coordinator', coordinator, 'CoordinatorService', coordinatorTable], ['agent', agent, 'AgentService', agentTable]] as const) {
    it(`${table}: every role is allowed exactly where the table says`, () => {
      expect(byPath.size).to.equal(rows.length + 5); // + health (3) and reflection (2), open to every role
      for (const [method, allowed] of rows) {
        for (const role of ROLES) {
          const v = authorizeCall(byPath, path(method, svc), certOf('x', role), noRevocations);
          expect(v.ok, `${method} as ${role}`).to.equal(allowed.includes(role));
          if (!v.ok) {
            expect(v.code).to.equal(status.PERMISSION_DENIED);
            expect(v.details).to.include(method).and.include(`role ${role}`).and.include('make-site-pki.sh');
          }
        }
      }
    });
  }

  it('health and reflection are open to every role, and to no certificate without one', () => {
    for (const role of ROLES) expect(authorizeCall(coordinator, '/grpc.health.v1.Health/Check', certOf('x', role), noRevocations).ok).to.equal(true);
    const v = authorizeCall(coordinator, '/grpc.health.v1.Health/Check', certOf('old-cli', undefined), noRevocations);
    expect(v.ok).to.equal(false);
    if (!v.ok) expect(v.details).to.match(/'old-cli' carries no vonode role/);
  });

  it('refuses what is in no table (deny by default)', () => {
    const v = authorizeCall(coordinator, '/vonode.v1.CoordinatorService/DropDatabase', certOf('root', 'admin'), noRevocations);
    expect(v).to.include({ ok: false, code: status.PERMISSION_DENIED });
  });

  it('a revoked certificate is UNAUTHENTICATED whatever its role', () => {
    const v = authorizeCall(coordinator, path('Status'), certOf('cli', 'admin', '00AB'), { isRevoked: (s) => s === 'AB' });
    expect(v).to.include({ ok: false, code: status.UNAUTHENTICATED });
    if (!v.ok) expect(v.details).to.match(/'cli' \(role admin\) with serial AB is revoked/);
  });

  it('no certificate at all is UNAUTHENTICATED', () => {
    expect(authorizeCall(coordinator, path('Status'), undefined, undefined)).to.include({ ok: false, code: status.UNAUTHENTICATED });
  });

  it('an agent acts only as the host its certificate names', () => {
    const entry = coordinator.get(path('RegisterAgent'))!;
    const id = { name: 'phys-01', role: 'agent' as const, serial: '1' };
    expect(authorizeRequest(entry, id, { hostName: 'phys-01' }).ok).to.equal(true);
    const v = authorizeRequest(entry, id, { hostName: 'phys-fake' });
    expect(v).to.include({ ok: false, code: status.PERMISSION_DENIED });
    if (!v.ok) expect(v.details).to.include("may act only as 'phys-01', not as 'phys-fake'");
    // Methods without actsAs take any request.
    expect(authorizeRequest(coordinator.get(path('Status'))!, id, {}).ok).to.equal(true);
  });
});
