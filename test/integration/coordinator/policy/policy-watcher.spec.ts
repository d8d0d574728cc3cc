import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PolicyWatcher, type PolicyRejection } from '../../../../coordinator/policy/policy-watcher.js';
import type { Policy } from '../../../../coordinator/policy/policy-schema.js';
import { ConfigError } from '../../../../shared/config/load-yaml.js';
import { FailedPreconditionError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';

const SHA = 'cbe243cb5c0622dcd70019ec97d87c71d2000eaf44f6ecab2d1c51963aaeca1b';
const policy = (bioWeight: number, extra = ''): string =>
  `vos:\n  bio: { weight: ${bioWeight}, max: 10, queue: bio.q${extra}, appliance: { disk: { url: http://10.0.0.1/bio.qcow2, sha256: ${SHA} } } }\n`;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const weight = (p: Policy): number => p.vos[0]!.weight;

describe('coordinator/policy/PolicyWatcher (real files, chokidar)', () => {
  let dir: string;
  let file: string;
  let watcher: PolicyWatcher;
  let changes: Policy[];
  let rejections: PolicyRejection[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-policy-'));
    file = path.join(dir, 'policy.yaml');
    await writeFile(file, policy(2));
    const clock = { nowMs: () => 1_700_000_000_000, monotonicMs: () => 0, sleep: () => Promise.resolve() };
    watcher = new PolicyWatcher(file, silentLogger(), { debounceMs: 100, clock });
    changes = [];
    rejections = [];
    watcher.on('change', (p) => changes.push(p));
    watcher.on('rejected', (r) => rejections.push(r));
  });

  afterEach(async () => {
    await watcher.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the file at start and reports its status', async () => {
    await watcher.start();
    expect(watcher.state).to.equal('running');
    expect(weight(watcher.current)).to.equal(2);
    expect(watcher.status()).to.deep.equal({ file, loadedAtUnixMs: 1_700_000_000_000, sha256: sha256(policy(2)) });
  });

  it('picks up a valid edit live; refuses an invalid one keeping the old policy; applies the fix', async () => {
    await watcher.start();
    await writeFile(file, policy(3));
    await waitFor(() => changes.length === 1);
    expect(weight(watcher.current)).to.equal(3);
    expect(watcher.status().sha256).to.equal(sha256(policy(3)));

    await writeFile(file, policy(0));
    await waitFor(() => rejections.length === 1);
    expect(weight(watcher.current)).to.equal(3);
    const lastError = watcher.status().lastError;
    expect(lastError?.file).to.equal(file);
    expect(lastError?.atUnixMs).to.equal(1_700_000_000_000);
    expect(lastError?.problems.map((p) => p.path)).to.deep.equal(['vos.bio.weight']);
    expect(watcher.status().sha256).to.equal(sha256(policy(3)));

    await writeFile(file, policy(5));
    await waitFor(() => changes.length === 2);
    expect(weight(watcher.current)).to.equal(5);
    expect(watcher.lastError).to.equal(undefined);
    expect(watcher.status()).to.not.have.property('lastError');
    expect(rejections).to.have.length(1);
  });

  it('picks up a rename-replace (editor save via temp file)', async () => {
    await watcher.start();
    const tmp = path.join(dir, '.policy.yaml.swp');
    await writeFile(tmp, policy(7));
    await rename(tmp, file);
    await waitFor(() => changes.length === 1);
    expect(weight(watcher.current)).to.equal(7);
    // The replaced file keeps being followed.
    await writeFile(file, policy(8));
    await waitFor(() => changes.length === 2);
    expect(weight(watcher.current)).to.equal(8);
  });

  it('an invalid edit reverted to the applied text clears lastError without a change', async () => {
    await watcher.start();
    await writeFile(file, 'vos: {}\n');
    await waitFor(() => rejections.length === 1);
    expect(watcher.lastError?.problems.map((p) => p.path)).to.deep.equal(['vos']);
    await writeFile(file, policy(2));
    await waitFor(() => watcher.lastError === undefined);
    expect(changes).to.deep.equal([]);
    expect(watcher.status().sha256).to.equal(sha256(policy(2)));
  });

  it('ignores other files in the directory', async () => {
    await watcher.start();
    await writeFile(path.join(dir, 'other.yaml'), 'not: [a policy');
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).to.deep.equal([]);
    expect(rejections).to.deep.equal([]);
  });

  it('apply(): refuses invalid text without touching the file; writes valid text atomically and applies it once', async () => {
    await watcher.start();
    const refused = await watcher.apply(policy(2, ', min: 11'));
    expect(refused.ok).to.equal(false);
    expect(refused.ok ? [] : refused.problems.map((p) => p.path)).to.deep.equal(['vos.bio.max']);
    expect(await readFile(file, 'utf8')).to.equal(policy(2));

    const applied = await watcher.apply(policy(4));
    expect(applied.ok).to.equal(true);
    expect(await readFile(file, 'utf8')).to.equal(policy(4));
    expect(weight(watcher.current)).to.equal(4);
    expect(watcher.text).to.equal(policy(4));
    expect(changes).to.have.length(1);
    // The watcher then sees its own write: same text, so no second change, and no temp file left.
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).to.have.length(1);
    expect(await readdir(dir)).to.deep.equal(['policy.yaml']);
  });

  it('start() throws a ConfigError naming the field when the file is invalid, and may be retried', async () => {
    await writeFile(file, policy(2, ', queue: x'));
    const err = await watcher.start().then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).message).to.match(/policy\.yaml: invalid configuration/);
    expect(watcher.state).to.equal('idle');
    expect(() => watcher.status()).to.throw(FailedPreconditionError);
    await writeFile(file, policy(2));
    await watcher.start();
    expect(weight(watcher.current)).to.equal(2);
  });

  it('start() throws a ConfigError for a missing file', async () => {
    await rm(file);
    const err = await watcher.start().then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).to.match(/^\(file\): cannot read/);
  });

  it('shutdown() during start() waits for it and leaves the watcher stopped', async () => {
    const started = watcher.start();
    await watcher.shutdown();
    await started;
    expect(watcher.state).to.equal('stopped');
  });

  it('shutdown() stops following the file', async () => {
    await watcher.start();
    await watcher.shutdown();
    expect(watcher.state).to.equal('stopped');
    await writeFile(file, policy(9));
    await new Promise((r) => setTimeout(r, 300));
    expect(weight(watcher.current)).to.equal(2);
    await watcher.apply(policy(3)).then(
      () => expect.fail('apply after shutdown must fail'),
      (e: unknown) => expect(e).to.be.instanceOf(FailedPreconditionError),
    );
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
