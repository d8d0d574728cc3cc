import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  acceptsJobs,
  countTasks,
  demandPerQueue,
  instanceState,
  parseQstatJobs,
  parseQueueInstances,
  parseXml,
  SgeXmlError,
  type SgeQueueInstance,
} from '../../../../../coordinator/lrms/sge/sge-xml.js';

// sample-*.xml: the SGE recipe's samples (../shared/recipes/sge); the others
// were captured from the testbed's real qmaster (scripts/testbed/sge.sh).
const fixture = (name: string): string => readFileSync(path.join(import.meta.dirname, '../../../../fixtures/sge', name), 'utf8');

describe('coordinator/lrms/sge/sge-xml parseXml', () => {
  it('reads elements, quoted attributes, text and entities, skipping prolog and comments', () => {
    const root = parseXml(`<?xml version='1.0'?>\n<!-- c --><a x='1' y="t&amp;u"><b>&lt;hi&gt; &#65;&#x42;</b><c/></a>\n`);
    expect(root.name).to.equal('a');
    expect(root.attributes).to.deep.equal({ x: '1', y: 't&u' });
    expect(root.children.map((c) => c.name)).to.deep.equal(['b', 'c']);
    expect(root.children[0]!.text).to.equal('<hi> AB');
  });

  const bad: [string, string, RegExp][] = [
    ['mismatched end tag', '<a><b></a></b>', /unexpected <\/a>/],
    ['unclosed element', '<a><b></b>', /<a> is not closed/],
    ['two roots', '<a/><b/>', /more than one root/],
    ['text outside the root', 'x<a/>', /text outside/],
    ['unknown entity', '<a>&nbsp;</a>', /unknown entity &nbsp;/],
    ['garbage in a tag', '<a b=1/>', /bad attributes/],
    ['empty input', '', /no root element/],
    ['an error message instead of XML', 'error: commlib error: got select error', /text outside/],
  ];
  for (const [what, xml, message] of bad) {
    it(`refuses ${what}`, () => expect(() => parseXml(xml)).to.throw(SgeXmlError, message));
  }

  for (const sample of ['sample-qhost.xml', 'sample-qstat-gc.xml', 'sample-qstat-f.xml', 'sample-qstat.xml', 'sample-qstat-pending-r.xml']) {
    it(`parses the recipe's ${sample}`, () => expect(parseXml(fixture(sample)).children).to.not.be.empty);
  }
});

describe('coordinator/lrms/sge/sge-xml parseQstatJobs', () => {
  it('reads running (with queue instance) and pending jobs of `qstat -xml` (recipe sample)', () => {
    const jobs = parseQstatJobs(fixture('sample-qstat.xml'));
    expect(jobs.map((j) => [j.id, j.name, j.state, j.queueInstance])).to.deep.equal([
      [17, 'bio1', 'r', 'bio.q@sge-b2'],
      [18, 'bio2', 'r', 'bio.q@sge-b1'],
      [19, 'bio3', 'qw', ''],
      [20, 'fus1', 'qw', ''],
    ]);
    expect(jobs[0]).to.include({ owner: 'sgeuser', slots: 1, tasks: 1 });
  });

  it("reads hard_req_queue of `qstat -xml -u '*' -s p -r` (recipe sample)", () => {
    const jobs = parseQstatJobs(fixture('sample-qstat-pending-r.xml'));
    expect(jobs.map((j) => [j.id, j.hardQueues])).to.deep.equal([
      [19, ['bio.q']],
      [20, ['fusion.q']],
    ]);
  });

  it('reads several requested queues, held jobs and SGE\'s own escaping of job names (testbed capture)', () => {
    const jobs = parseQstatJobs(fixture('qstat-u-r.xml'));
    expect(jobs.map((j) => [j.id, j.state, j.hardQueues])).to.deep.equal([
      [9, 'r', ['bio.q']],
      [11, 'qw', ['bio.q', 'fusion.q']],
      [12, 'qw', ['fusion.q@*']],
      [13, 'qw', ['bio.q']],
      [10, 'hqw', ['fusion.q']],
    ]);
    // qstat escapes & and > but writes < as "%lt;"
    expect(jobs[0]!.name).to.equal('a&b%lt;c>');
  });

  it('counts the tasks of pending array jobs (testbed capture)', () => {
    const pending = parseQstatJobs(fixture('qstat-u-r-array.xml')).filter((j) => j.queueInstance === '');
    expect(pending.filter((j) => j.id === 14 || j.id === 15).map((j) => [j.id, j.tasks])).to.deep.equal([
      [14, 4],
      [15, 3],
    ]);
  });

  it('refuses XML of another command', () => expect(() => parseQstatJobs(fixture('sample-qhost.xml'))).to.throw(SgeXmlError, /<qhost>/));
});

describe('coordinator/lrms/sge/sge-xml countTasks', () => {
  const cases: [string, number][] = [
    ['1-4:1', 4],
    ['1-9:4', 3],
    ['1-3:1,7', 4],
    ['5', 1],
    ['2-2:1', 1],
  ];
  for (const [range, n] of cases) it(`${range} → ${n}`, () => expect(countTasks(range)).to.equal(n));
  for (const bad of ['', '4-1', '1-4:0', 'x']) it(`refuses "${bad}"`, () => expect(() => countTasks(bad)).to.throw(SgeXmlError));
});

describe('coordinator/lrms/sge/sge-xml parseQueueInstances', () => {
  it('reads `qstat -f -xml` queue instances (recipe sample)', () => {
    const instances = parseQueueInstances(fixture('sample-qstat-f.xml'));
    expect(instances.map((i) => [i.queue, i.host, i.slotsUsed, i.slotsTotal, i.loadAvg, i.state])).to.deep.equal([
      ['bio.q', 'sge-b1', 1, 1, 0.53711, ''],
      ['bio.q', 'sge-b2', 1, 1, 0.54639, ''],
      ['bio.q', 'sge-master', 0, 0, undefined, 'du'],
      ['fusion.q', 'sge-master', 0, 0, undefined, 'du'],
    ]);
  });

  it("reads the jobs listed under each instance with -u '*' (testbed capture)", () => {
    const [node] = parseQueueInstances(fixture('qstat-f-u-r.xml'));
    expect(node!.jobs.map((j) => [j.id, j.state, j.queueInstance])).to.deep.equal([[9, 'r', 'bio.q@bio-n1']]);
  });

  it('shows a host whose execd was killed as du without load (testbed capture)', () => {
    const [node] = parseQueueInstances(fixture('qstat-f-unreachable.xml'));
    expect(node).to.include({ host: 'bio-n1', state: 'du', loadAvg: undefined });
  });

  it('refuses an instance name that is not queue@host', () => {
    const xml = '<job_info><queue_info><Queue-List><name>bio.q</name><slots_used>0</slots_used><slots_total>1</slots_total></Queue-List></queue_info></job_info>';
    expect(() => parseQueueInstances(xml)).to.throw(SgeXmlError, /not queue@host/);
  });
});

describe('coordinator/lrms/sge/sge-xml instance states', () => {
  const instance = (state: string, loadAvg: number | undefined): SgeQueueInstance => ({
    queue: 'bio.q', host: 'n1', slotsUsed: 0, slotsTotal: 1, loadAvg, state, jobs: [],
  });
  const cases: [string, number | undefined, 'available' | 'disabled' | 'unreachable', boolean][] = [
    ['', 0.5, 'available', true],
    ['', undefined, 'available', false], // no load report yet
    ['a', 0.5, 'available', false],
    ['d', 0.5, 'disabled', false],
    ['E', 0.5, 'disabled', false],
    ['s', 0.5, 'disabled', false],
    ['C', 0.5, 'disabled', false],
    ['o', 0.5, 'disabled', false],
    ['u', undefined, 'unreachable', false],
    ['au', undefined, 'unreachable', false],
    ['du', undefined, 'unreachable', false],
  ];
  for (const [state, load, expected, accepts] of cases) {
    it(`state "${state}" load ${load ?? 'none'} → ${expected}, ${accepts ? 'takes' : 'does not take'} jobs`, () => {
      expect(instanceState(instance(state, load))).to.equal(expected);
      expect(acceptsJobs(instance(state, load))).to.equal(accepts);
    });
  }
});

describe('coordinator/lrms/sge/sge-xml demandPerQueue', () => {
  it('counts the recipe sample: running per instance queue, pending per hard_req_queue', () => {
    const running = parseQstatJobs(fixture('sample-qstat.xml')).filter((j) => j.queueInstance);
    const pending = parseQstatJobs(fixture('sample-qstat-pending-r.xml'));
    const demand = demandPerQueue([...running, ...pending], ['bio.q', 'fusion.q', 'idle.q']);
    expect([...demand.values()]).to.deep.equal([
      { queue: 'bio.q', pending: 1, running: 2 },
      { queue: 'fusion.q', pending: 1, running: 0 },
      { queue: 'idle.q', pending: 0, running: 0 },
    ]);
  });

  it('counts a job asking for two queues in both, queue@* as its queue, and leaves held jobs out', () => {
    const demand = demandPerQueue(parseQstatJobs(fixture('qstat-u-r.xml')), ['bio.q', 'fusion.q']);
    expect(demand.get('bio.q')).to.deep.equal({ queue: 'bio.q', pending: 2, running: 1 });
    expect(demand.get('fusion.q')).to.deep.equal({ queue: 'fusion.q', pending: 2, running: 0 });
  });

  it('counts array tasks and a job in transfer (t) as running', () => {
    const demand = demandPerQueue(parseQstatJobs(fixture('qstat-u-r-array.xml')), ['bio.q', 'fusion.q']);
    expect(demand.get('bio.q')).to.deep.equal({ queue: 'bio.q', pending: 1 + 4, running: 1 });
    expect(demand.get('fusion.q')).to.deep.equal({ queue: 'fusion.q', pending: 1 + 3, running: 0 });
  });

  it('ignores a wildcard queue request and queues nobody asked about', () => {
    const job = { id: 1, name: 'x', owner: 'u', state: 'qw', queueInstance: '', hardQueues: ['*.q', 'other.q'], slots: 1, tasks: 1 };
    expect([...demandPerQueue([job], ['bio.q']).values()]).to.deep.equal([{ queue: 'bio.q', pending: 0, running: 0 }]);
  });
});
