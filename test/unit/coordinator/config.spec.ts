import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { parseCoordinatorConfig } from '../../../coordinator/config.js';
import { ConfigError } from '../../../shared/config/load-yaml.js';

const base = `policyFile: /etc/vonode/policy.yaml
pool:
  - { hostname: vwn-001, ip: 10.1.0.11, mac: "52:54:00:01:00:11" }
`;

describe('coordinator/config', () => {
  it('loads the documented example with its defaults', async () => {
    const c = parseCoordinatorConfig(await readFile('docs/coordinator.example.yaml', 'utf8'));
    expect(c.agents).to.deep.equal({ heartbeatInterval: 1000, downAfter: 3000 });
    expect(c.deploy.phaseTimeouts.PT).to.equal(30 * 60_000);
    expect(c.pool).to.have.length(2);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['a duplicate IP', `${base}  - { hostname: vwn-002, ip: 10.1.0.11, mac: "52:54:00:01:00:12" }\n`, /pool\.1\.ip: duplicate ip/],
    ['a bad MAC', `policyFile: /p\npool:\n  - { hostname: vwn-001, ip: 10.1.0.11, mac: "01:00:00:00:00:01" }\n`, /pool\.0\.mac: .*multicast/],
    ['a bad hostname', `policyFile: /p\npool:\n  - { hostname: "VWN 1", ip: 10.1.0.11, mac: "52:54:00:01:00:11" }\n`, /pool\.0\.hostname/],
    ['downAfter not above the heartbeat', `${base}agents: { heartbeatInterval: 2s, downAfter: 1s }\n`, /agents\.downAfter/],
    ['an unknown key', `${base}pools: []\n`, /pools/],
    ['no pool', `policyFile: /p\n`, /pool/],
    // Every number has bounds, and a refusal states them.
    ['maxAttempts 0', `${base}deploy: { maxAttempts: 0 }\n`, /deploy\.maxAttempts: must be a whole number from 1 to 100/],
    ['maxAttempts 1e20', `${base}deploy: { maxAttempts: 1e20 }\n`, /deploy\.maxAttempts: must be a whole number from 1 to 100/],
    ['maxConcurrentTransfers 1001', `${base}deploy: { maxConcurrentTransfers: 1001 }\n`, /deploy\.maxConcurrentTransfers: must be a whole number from 1 to 1000/],
    ['maxConcurrentTransfers .inf', `${base}deploy: { maxConcurrentTransfers: .inf }\n`, /deploy\.maxConcurrentTransfers: must be a whole number from 1 to 1000/],
    ['a phase timeout beyond a timer', `${base}deploy: { phaseTimeouts: { PT: 1000h } }\n`, /deploy\.phaseTimeouts\.PT: must be from 100ms to 168h/],
    ['a phase timeout beyond 2^53 ms', `${base}deploy: { phaseTimeouts: { VMR: 99999999999999999999h } }\n`, /deploy\.phaseTimeouts\.VMR: "99999999999999999999h" is too large \(over 2\^53 ms\): it must be from 100ms to 168h/],
    ['a phase timeout of 1e400s', `${base}deploy: { phaseTimeouts: { CR: 1e400s } }\n`, /deploy\.phaseTimeouts\.CR: "1e400s" is not a duration/],
    ['a negative shutdownTimeout', `${base}deploy: { shutdownTimeout: -1 }\n`, /deploy\.shutdownTimeout: -1 is negative/],
    ['a heartbeat of 1ms', `${base}agents: { heartbeatInterval: 1ms, downAfter: 1s }\n`, /agents\.heartbeatInterval: must be from 50ms to 10m/],
    ['a scalingInterval of 2h', `${base}batchSystem: { kind: slurm, scalingInterval: 2h, slurm: {} }\n`, /batchSystem\.scalingInterval: must be from 100ms to 1h/],
    ['an infosys pollInterval of 0', `${base}infosys: { ldapUrl: "ldap://h:2170", pollInterval: 0 }\n`, /infosys\.pollInterval: must be from 10ms to 1m/],
    ['a listen port above 65535', `${base}listen: 127.0.0.1:70000\n`, /listen: the port must be from 0 to 65535/],
    ['a metrics port above 65535', `${base}metrics: { listen: "127.0.0.1:99999" }\n`, /metrics\.listen: the port must be from 0 to 65535/],
    ['a relative APEL directory', `${base}accounting: { apel: { dir: spool/apel } }\n`, /accounting\.apel\.dir: must be an absolute path/],
    ['an APEL interval under 1s', `${base}accounting: { apel: { dir: /var/spool/apel/outgoing, interval: 500ms } }\n`, /accounting\.apel\.interval: must be from 1s to 168h/],
    ['an unknown accounting key', `${base}accounting: { apel: { dir: /a, site: X } }\n`, /accounting\.apel.*site/],
  ];
  it('reads accounting.apel with its defaults (interval 1h, CloudType vonode; SiteName and service from the site when absent)', () => {
    const c = parseCoordinatorConfig(`${base}accounting: { apel: { dir: /var/spool/apel/outgoing, interval: 2s } }\n`);
    expect(c.accounting?.apel).to.deep.equal({ dir: '/var/spool/apel/outgoing', interval: 2000, cloudType: 'vonode' });
    expect(parseCoordinatorConfig(`${base}accounting: { apel: { dir: /a } }\n`).accounting?.apel?.interval).to.equal(3_600_000);
    expect(parseCoordinatorConfig(base).accounting).to.equal(undefined);
  });

  it('accepts each number at its bounds', () => {
    const c = parseCoordinatorConfig(`${base}listen: 0.0.0.0:65535\nagents: { heartbeatInterval: 50ms, downAfter: 1h }\n` +
      'deploy: { maxAttempts: 100, maxConcurrentTransfers: 1000, shutdownTimeout: 0, phaseTimeouts: { PT: 168h, CR: 100ms } }\n');
    expect(c.deploy).to.deep.include({ maxAttempts: 100, maxConcurrentTransfers: 1000, shutdownTimeout: 0 });
    expect(c.deploy.phaseTimeouts.PT).to.equal(168 * 3_600_000);
  });

  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      expect(() => parseCoordinatorConfig(text)).to.throw(ConfigError, message);
    });
  }
});
