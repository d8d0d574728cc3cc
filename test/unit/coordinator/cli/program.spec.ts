import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { CliIo } from '../../../../coordinator/cli/cli-io.js';
import { runCli } from '../../../../coordinator/cli/program.js';

/** Runs the CLI in-process with captured output and the given environment. */
async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    isTTY: false,
    env,
    signal: new AbortController().signal,
    now: () => 0,
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe('coordinator/cli/program: parsing, usage errors and exit codes (in-process)', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'vonode-cli-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it('prints help with exit 0', async () => {
    const r = await run(['--help']);
    expect(r.code).to.equal(0);
    for (const cmd of ['status', 'hosts', 'nodes', 'deploy', 'drain', 'remove', 'policy', 'timings', 'health', 'events']) expect(r.out).to.include(cmd);
  });

  const usage: Array<[string, string[], RegExp]> = [
    ['no command', [], /Usage: vonode/],
    ['an unknown command', ['bogus'], /unknown command 'bogus'/],
    ['an unknown option', ['--insecure', 'hosts', '--wide'], /unknown option '--wide'/],
    ['deploy without --vo', ['--insecure', 'deploy'], /required option '--vo <vo>' not specified/],
    ['a count that is not a whole number', ['--insecure', 'deploy', '--vo', 'bio', '--count', '1.5'], /--count takes a whole number from 1 to 1000, not "1\.5"/],
    ['a count of 0', ['--insecure', 'deploy', '--vo', 'bio', '--count', '0'], /--count takes a whole number from 1 to 1000, not "0"/],
    ['a count above 1000', ['--insecure', 'deploy', '--vo', 'bio', '--count', '1001'], /--count takes a whole number from 1 to 1000, not "1001"/],
    ['a count beyond uint32', ['--insecure', 'deploy', '--vo', 'bio', '--count', '99999999999'], /--count takes a whole number from 1 to 1000, not "99999999999"/],
    ['a count beyond 2^53', ['--insecure', 'deploy', '--vo', 'bio', '--count', '1e400'], /--count takes a whole number from 1 to 1000, not "1e400"/],
    ['a timings --limit of 0', ['--insecure', 'timings', '--limit', '0'], /--limit takes a whole number from 1 to 10000, not "0"/],
    ['a timings --limit above 10000', ['--insecure', 'timings', '--limit', '10001'], /--limit takes a whole number from 1 to 10000, not "10001"/],
    ['a policy check --capacity above 100000', ['policy', 'check', '/dev/null', '--capacity', '100001'], /--capacity takes a whole number from 0 to 100000, not "100001"/],
    ['a negative --capacity', ['policy', 'check', '/dev/null', '--capacity=-1'], /--capacity takes a whole number from 0 to 100000, not "-1"/],
    ['a --timeout above an hour', ['--timeout', '3601', '--insecure', 'status'], /--timeout takes a number of seconds above 0 and at most 3600, not "3601"/],
    ['an infinite --timeout', ['--timeout', 'Infinity', '--insecure', 'status'], /--timeout takes a number of seconds above 0 and at most 3600, not "Infinity"/],
    ['a bad --timeout', ['--timeout', '0', '--insecure', 'status'], /--timeout takes a number of seconds above 0/],
    ['drain without a node', ['--insecure', 'drain'], /missing required argument 'node'/],
    ['timings --layers with --removals', ['--insecure', 'timings', '--layers', '--removals'], /--layers covers deployments only: drop --removals/],
    ['no TLS and no --insecure', ['status'], /no TLS configured for 127\.0\.0\.1:7080: pass --ca, --cert and --key .* or --insecure/],
    ['half the TLS files', ['--ca', '/x/ca.pem', 'hosts'], /missing --cert \(VONODE_TLS_CERT\), --key \(VONODE_TLS_KEY\)/],
    ['an unreadable --ca', ['--ca', '/nonexistent/ca.pem', '--cert', '/x', '--key', '/y', 'hosts'], /cannot read --ca \/nonexistent\/ca\.pem: no such file/],
  ];
  for (const [name, argv, message] of usage) {
    it(`exits 2 on ${name}`, async () => {
      const r = await run(argv);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.match(message);
      expect(r.out).to.equal('');
    });
  }

  it('uses VONODE_TLS_* from the environment (and reports their unreadable files as usage errors)', async () => {
    const r = await run(['hosts'], { VONODE_TLS_CA: '/nope/ca.pem', VONODE_TLS_CERT: '/nope/c.pem', VONODE_TLS_KEY: '/nope/k.pem' });
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/cannot read --ca \/nope\/ca\.pem/);
  });

  it('checks a policy file offline: exit 0 with a summary, exit 1 naming every bad field', async () => {
    const sha = 'ab'.repeat(32);
    const good = path.join(dir, 'good.yaml');
    await writeFile(good, `vos:\n  bio:\n    weight: 2\n    max: 4\n    queue: bio.q\n    appliance:\n      disk: { url: "http://repo/bio.qcow2", sha256: "${sha}" }\n`);
    const ok = await run(['policy', 'check', good]);
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.out).to.match(/good\.yaml: OK, 1 VO: bio \(weight 2, 0\.\.4 nodes, queue bio\.q\)/);

    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, `vos:\n  bio:\n    weight: 0\n    queue: bio.q\n    appliance:\n      disk: { url: "http://repo/bio.qcow2", sha256: "${sha}" }\n`);
    const r = await run(['policy', 'check', bad]);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/bad\.yaml: invalid policy, 2 problems:/);
    expect(r.err).to.match(/^ {2}vos\.bio\.weight: /m);
    expect(r.err).to.match(/^ {2}vos\.bio\.max: /m);
  });

  it('fails policy apply on an unreadable file before connecting', async () => {
    const r = await run(['--insecure', 'policy', 'apply', path.join(dir, 'missing.yaml')]);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/cannot read .*missing\.yaml/);
  });
});
