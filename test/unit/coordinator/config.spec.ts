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
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      expect(() => parseCoordinatorConfig(text)).to.throw(ConfigError, message);
    });
  }
});
