import { expect } from 'chai';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { COORDINATOR_TERM_FILE, CoordinatorTermFence, CoordinatorTermFileError } from '../../../../agent/state/coordinator-term.js';
import { FailedPreconditionError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

async function refusal(p: Promise<unknown>): Promise<FailedPreconditionError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FailedPreconditionError) return err;
    throw err;
  }
  return expect.fail('expected the fence to refuse');
}

// The fence against deposed coordinator leaders, on a real state directory.
describe('agent/state/CoordinatorTermFence', () => {
  let dir: string;
  beforeEach(async () => (dir = await tempDir('vonode-term-')));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const onDisk = async (): Promise<number> => (JSON.parse(await readFile(path.join(dir, COORDINATOR_TERM_FILE), 'utf8')) as { term: number }).term;

  it('starts at 0 without a file, keeps the newest term it sees on disk, and has it again after a re-open', async () => {
    const fence = await CoordinatorTermFence.open(dir);
    expect(fence.term).to.equal(0);
    expect(await readdir(dir)).to.deep.equal([]);
    await fence.observe(57);
    await fence.observe(41);
    await fence.observe(0);
    expect(fence.term).to.equal(57);
    expect(await onDisk()).to.equal(57);
    const again = await CoordinatorTermFence.open(dir);
    expect(again.term).to.equal(57);
    expect(again.path).to.equal(path.join(dir, COORDINATOR_TERM_FILE));
    // Only the file: the atomic write's temporary is gone.
    expect(await readdir(dir)).to.deep.equal([COORDINATOR_TERM_FILE]);
  });

  it('admits the term seen and newer ones (raising the fence), refuses older ones saying whose request it was', async () => {
    const fence = await CoordinatorTermFence.open(dir);
    await fence.observe(57);
    await fence.admit(57, 'Deploy of vwn-001');
    const err = await refusal(fence.admit(41, 'Deploy of vwn-003'));
    expect(err.message).to.equal(
      "Deploy of vwn-003 from a coordinator of term 41, older than term 57 already seen: a deposed leader's request, refused (the current leader will retry it)",
    );
    await fence.admit(60, 'Remove of vwn-002');
    expect(fence.term).to.equal(60);
    expect(await onDisk()).to.equal(60);
    expect((await refusal(fence.admit(57, 'Remove of vwn-002'))).message).to.match(/^Remove of vwn-002 from a coordinator of term 57, older than term 60/);
    expect((await CoordinatorTermFence.open(dir)).term).to.equal(60);
  });

  it('never writes an older term over a newer one when terms arrive at once in any order', async () => {
    const fence = await CoordinatorTermFence.open(dir);
    const terms = [12, 99, 3, 57, 98, 41, 100, 7, 64, 2];
    await Promise.all(terms.map((t, i) => (i % 2 ? fence.observe(t) : fence.admit(t, `Deploy of vwn-${t}`).catch(() => undefined))));
    expect(fence.term).to.equal(100);
    expect(await onDisk()).to.equal(100);
  });

  it('admits term 0 (no HA) only while no HA term has been seen, and says which file to delete when a site goes back to SQLite', async () => {
    const fence = await CoordinatorTermFence.open(dir);
    await fence.admit(0, 'Deploy of vwn-001');
    await fence.admit(0, 'Remove of vwn-001');
    expect(fence.term).to.equal(0);
    await fence.admit(3, 'Deploy of vwn-002');
    const err = await refusal(fence.admit(0, 'Deploy of vwn-004'));
    expect(err.message).to.match(/^Deploy of vwn-004 from a coordinator without HA \(term 0\), but this agent has seen term 3 of an HA coordinator on etcd: refused/);
    expect(err.message).to.include(`went back from etcd to SQLite on purpose, stop this agent, delete ${path.join(dir, COORDINATOR_TERM_FILE)} and start it again`);
    // After a restart the refusal stands; after the operator deletes the file, term 0 is admitted.
    await refusal((await CoordinatorTermFence.open(dir)).admit(0, 'Deploy of vwn-004'));
    await rm(path.join(dir, COORDINATOR_TERM_FILE));
    await (await CoordinatorTermFence.open(dir)).admit(0, 'Deploy of vwn-004');
  });

  it('refuses a term no coordinator sends', async () => {
    const fence = await CoordinatorTermFence.open(dir);
    for (const term of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect((await refusal(fence.admit(term, 'Deploy of vwn-001'))).message).to.match(/carries coordinator term .*, which no coordinator sends/);
    }
    await fence.observe(-5);
    expect(fence.term).to.equal(0);
  });

  it('will not open over a file it did not write, naming it', async () => {
    for (const text of ['not json', '{"term": -3}', '{"other": 1}']) {
      await writeFile(path.join(dir, COORDINATOR_TERM_FILE), text);
      const err = await CoordinatorTermFence.open(dir).then(() => undefined, (e: unknown) => e);
      expect(err, text).to.be.instanceOf(CoordinatorTermFileError);
      expect((err as Error).message).to.include(path.join(dir, COORDINATOR_TERM_FILE));
    }
  });
});
