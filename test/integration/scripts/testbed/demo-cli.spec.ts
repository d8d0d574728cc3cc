import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// The demo's front door (scripts/testbed/demo.ts): what it says before it
// touches anything. The full run is test/e2e/site-acceptance.spec.ts.

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../../..');
const DEMO = path.join(ROOT, 'scripts/testbed/demo.ts');

async function demo(args: string[], asUser?: string): Promise<{ code: number; out: string; err: string }> {
  const argv = [process.execPath, '--import', 'tsx', DEMO, ...args];
  const [cmd, ...rest] = asUser ? ['runuser', '-u', asUser, '--', ...argv] : argv;
  try {
    const { stdout, stderr } = await run(cmd!, rest, { cwd: ROOT, timeout: 60_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

describe('scripts/testbed/demo.ts: refusals and help', function () {
  this.timeout(120_000);
  const scratch = path.join(os.tmpdir(), `vonode-demo-cli-${process.pid}`);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // the non-root case needs root to switch to nobody
    await mkdir(scratch, { recursive: true });
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  it('refuses to run as a normal user, saying to use root (exit 2)', async () => {
    const r = await demo([], 'nobody');
    expect(r.code, r.err).to.equal(2);
    expect(r.err).to.match(/run as root/);
  });

  it('prints its usage for --help (exit 0)', async () => {
    const r = await demo(['--help']);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('--keep').and.contain('--down').and.contain('--dir DIR');
  });

  it('refuses a relative or odd --dir and a bad number (exit 2, naming the option)', async () => {
    expect((await demo(['--dir', 'relative/dir'])).err).to.match(/--dir must be an absolute path/);
    expect((await demo(['--dir', '/tmp/with space'])).err).to.match(/--dir must be an absolute path/);
    const r = await demo(['--pool', 'many']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/--pool takes a whole number/);
  });

  it('never deletes a directory it did not make: --down on a non-testbed directory is refused and leaves it whole', async () => {
    const dir = path.join(scratch, 'precious');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'keep.txt'), 'mine\n');
    const r = await demo(['--down', '--dir', dir]);
    expect(r.code).to.not.equal(0);
    expect(r.err).to.match(/is not a vonode testbed/);
    expect(await readdir(dir)).to.deep.equal(['keep.txt']);
  });

  it('--down on a directory that does not exist is a no-op success', async () => {
    const r = await demo(['--down', '--dir', path.join(scratch, 'never-made')]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/removed the testbed/);
  });
});
