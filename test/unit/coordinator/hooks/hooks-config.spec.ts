import { expect } from 'chai';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseCoordinatorConfig } from '../../../../coordinator/config.js';
import { coordinatorPreflight } from '../../../../coordinator/preflight.js';
import { ConfigError } from '../../../../shared/config/load-yaml.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const base = `policyFile: /etc/vonode/policy.yaml
pool:
  - { hostname: vwn-001, ip: 10.1.0.11, mac: "52:54:00:01:00:11" }
`;

describe('coordinator config: hooks', () => {
  it('is off when absent, and fills its defaults', () => {
    expect(parseCoordinatorConfig(base).hooks).to.equal(undefined);
    expect(parseCoordinatorConfig(`${base}hooks: { events: { agent_down: [/usr/local/lib/vonode/page] } }\n`).hooks).to.deep.equal({
      timeout: 30_000, maxConcurrent: 4, maxQueued: 1000,
      events: { node_deployed: [], node_running: [], drain_started: [], node_removed: [], deployment_failed: [], agent_down: ['/usr/local/lib/vonode/page'] },
    });
    expect(parseCoordinatorConfig(`${base}hooks: {}\n`).hooks?.events.node_deployed).to.deep.equal([]);
  });

  it('converts the timeout and keeps the order of the executables', () => {
    const h = parseCoordinatorConfig(`${base}hooks: { timeout: 2m, maxConcurrent: 64, maxQueued: 1, events: { node_removed: [/a/b, /a/c] } }\n`).hooks!;
    expect(h).to.deep.include({ timeout: 120_000, maxConcurrent: 64, maxQueued: 1 });
    expect(h.events.node_removed).to.deep.equal(['/a/b', '/a/c']);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['a relative path', 'hooks: { events: { node_deployed: [bin/hook] } }', /hooks\.events\.node_deployed\.0: must be an absolute path/],
    ['a path with ..', 'hooks: { events: { node_deployed: [/etc/../bin/sh] } }', /hooks\.events\.node_deployed\.0: must name a file/],
    ['a directory path', 'hooks: { events: { node_deployed: [/usr/bin/] } }', /hooks\.events\.node_deployed\.0: must name a file/],
    ['a command line instead of a path', 'hooks: { events: { node_deployed: ["/bin/sh -c x"] } }', /hooks\.events\.node_deployed\.0: must be an absolute path/],
    ['an unknown event', 'hooks: { events: { node_exploded: [/a] } }', /node_exploded/],
    ['an unknown key', 'hooks: { timeouts: 1s }', /timeouts/],
    ['a timeout of 10ms', 'hooks: { timeout: 10ms }', /hooks\.timeout: must be from 100ms to 1h/],
    ['maxConcurrent 0', 'hooks: { maxConcurrent: 0 }', /hooks\.maxConcurrent: must be a whole number from 1 to 64/],
    ['maxQueued 0', 'hooks: { maxQueued: 0 }', /hooks\.maxQueued: must be a whole number from 1 to 100000/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      expect(() => parseCoordinatorConfig(`${base}${text}\n`)).to.throw(ConfigError, message);
    });
  }
});

describe('vonode-coordinator --check: hooks', () => {
  let dir = '';
  before(async () => {
    dir = await tempDir('vonode-hooks-check-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reports hooks that are missing or not executable, and nothing for good ones', async () => {
    const good = path.join(dir, 'good');
    const plain = path.join(dir, 'plain');
    await writeFile(good, '#!/bin/sh\n');
    await chmod(good, 0o755);
    await writeFile(plain, '#!/bin/sh\n');
    await writeFile(path.join(dir, 'policy.yaml'), stringify({ vos: {} }));
    const config = parseCoordinatorConfig(stringify({
      policyFile: path.join(dir, 'policy.yaml'), stateDb: path.join(dir, 'state.db'),
      pool: [{ hostname: 'vwn-001', ip: '10.1.0.11', mac: '52:54:00:01:00:11' }],
      hooks: { events: { node_deployed: [good, plain], agent_down: [path.join(dir, 'missing'), dir] } },
    }));
    const problems = (await coordinatorPreflight(config, { insecure: true })).filter((p) => p.field.startsWith('hooks'));
    expect(problems.map((p) => p.field)).to.deep.equal(['hooks.events.node_deployed[1]', 'hooks.events.agent_down[0]', 'hooks.events.agent_down[1]']);
    expect(problems[0]!.message).to.match(/plain is not an executable file; .*chmod \+x/);
  });
});
