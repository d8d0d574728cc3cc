import { expect } from 'chai';
import fc from 'fast-check';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parseCoordinatorConfig } from '../../../../coordinator/config.js';
import { checkPolicyText } from '../../../../coordinator/policy/policy-check.js';
import { ConfigError } from '../../../../shared/config/load-yaml.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { hostileYaml } from '../../../helpers/hostile-yaml.js';

const RUNS = Number(process.env['VONODE_FUZZ_RUNS'] ?? 100) * 10;

/** Counts per loader, printed after the run. */
const counts: Record<string, { inputs: number; accepted: number; refused: number }> = {};
const count = (target: string, accepted: boolean): void => {
  const c = (counts[target] ??= { inputs: 0, accepted: 0, refused: 0 });
  c.inputs++;
  if (accepted) c.accepted++;
  else c.refused++;
};

// Generated hostile YAML at both daemons' config loaders and the policy
// loader: each either accepts a document that satisfies its schema or refuses
// it with a ConfigError / problem list naming fields; nothing else is thrown,
// nothing is written, no prototype is polluted.
describe('config and policy loaders under generated hostile YAML', function () {
  this.timeout(300_000);
  let canary = '';
  before(async () => {
    canary = path.join(await tempDir('vonode-yaml-fuzz-'), 'canary');
    await mkdir(canary);
  });
  after(async () => {
    expect(await readdir(canary), 'nothing written where a hostile path pointed').to.deep.equal([]);
    expect(({} as Record<string, unknown>)['polluted'], 'Object.prototype untouched').to.equal(undefined);
    const lines = Object.entries(counts).map(([t, c]) => `    ${t.padEnd(28)} ${String(c.inputs).padStart(5)} inputs  (accepted ${c.accepted}, refused ${c.refused})`);
    console.log([`  fuzz: config and policy loaders: ${Object.values(counts).reduce((s, c) => s + c.inputs, 0)} inputs`, ...lines].join('\n'));
  });

  const loaders: Array<[string, string, (text: string) => boolean]> = [
    ['agent config', 'docs/agent.example.yaml', (t) => Boolean(parseAgentConfig(t, 'fuzz.yaml'))],
    ['coordinator config', 'docs/coordinator.example.yaml', (t) => Boolean(parseCoordinatorConfig(t, 'fuzz.yaml'))],
    ['policy', 'docs/policy.example.yaml', (t) => {
      const r = checkPolicyText(t, 'fuzz.yaml');
      if (!r.ok) expect(r.problems.length, 'a refused policy names at least one problem').to.be.greaterThan(0);
      return r.ok;
    }],
  ];
  for (const [target, example, load] of loaders) {
    it(`${target}: accepts or refuses with named fields, never anything else`, async () => {
      const valid: unknown = parse(await readFile(path.resolve(example), 'utf8'));
      expect(load(await readFile(path.resolve(example), 'utf8')), `${example} itself loads`).to.equal(true);
      fc.assert(
        fc.property(hostileYaml(valid, canary), (text) => {
          let accepted: boolean;
          try {
            accepted = load(text);
          } catch (e) {
            expect(e, `${target} threw something other than a ConfigError for:\n${text.slice(0, 400)}`).to.be.instanceOf(ConfigError);
            expect((e as ConfigError).problems.length).to.be.greaterThan(0);
            accepted = false;
          }
          count(target, accepted);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
