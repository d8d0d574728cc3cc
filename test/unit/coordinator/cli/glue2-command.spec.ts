import { expect } from 'chai';
import { Writable } from 'node:stream';
import type { CliIo } from '../../../../coordinator/cli/cli-io.js';
import { runCli } from '../../../../coordinator/cli/program.js';

/** Runs the CLI in-process with captured output (no coordinator is reached by these cases). */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    isTTY: false,
    env: {},
    signal: new AbortController().signal,
    now: () => 0,
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe('vonode glue2: options', () => {
  it('documents itself', async () => {
    const r = await run(['glue2', '--help']);
    expect(r.code).to.equal(0);
    for (const opt of ['--glue13', '--site-suffix', '--glue13-suffix', '--ce-host', '--lrms', '--endpoint-url']) expect(r.out).to.include(opt);
  });

  const usage: Array<[string, string[], RegExp]> = [
    ['a suffix that is not a DN', ['glue2', '--site-suffix', 'resource'], /--site-suffix: "resource" is not a DN/],
    ['a GLUE 1.3 suffix that is not a DN', ['glue2', '--glue13-suffix', 'o=grid,'], /--glue13-suffix: .*not a DN/],
    ['a front-end that is not a host name', ['glue2', '--ce-host', 'CE host'], /--ce-host: .*not a hostname/],
    ['an unknown batch system', ['glue2', '--lrms', 'pbs'], /--lrms takes sge or slurm, not "pbs"/],
    ['an endpoint URL without its interface', ['glue2', '--endpoint-url', 'https://ce.example.org/'], /--endpoint-url and --endpoint-interface go together/],
  ];
  for (const [what, argv, message] of usage) {
    it(`refuses ${what} with exit 2 before connecting, printing nothing on stdout`, async () => {
      const r = await run(['--insecure', '--coordinator', '127.0.0.1:1', ...argv]);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.match(message);
      expect(r.out).to.equal('');
    });
  }

  it('prints nothing on stdout when the coordinator cannot be reached (BDII then drops the entries)', async () => {
    const r = await run(['--insecure', '--coordinator', '127.0.0.1:1', '--timeout', '2', 'glue2', '--glue13']);
    expect(r.code).to.equal(1);
    expect(r.out).to.equal('');
    expect(r.err).to.match(/127\.0\.0\.1:1/);
  });
});
