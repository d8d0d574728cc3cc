import { expect } from 'chai';
import { GwdHostBook } from '../../../../coordinator/gridway/gwd-host-book.js';
import { NodeState, type Node } from '../../../../shared/gen/vonode/v1/coordinator.js';

const n = (hostname: string, state: NodeState = NodeState.NODE_STATE_RUNNING, vo = 'bio'): Node => ({
  hostname, ip: '10.0.0.1', mac: '52:54:00:00:00:01', vo, host: 'phys-a', state, operationId: 'op', sinceUnixMs: 0, error: '',
});
const { NODE_STATE_DEPLOYING: DEPLOYING, NODE_STATE_DRAINING: DRAINING } = NodeState;

describe('coordinator/gridway/GwdHostBook (what to push to gwd)', () => {
  it('pushes nothing before the first DISCOVER answer, then only what that answer missed', () => {
    const book = new GwdHostBook();
    expect(book.observe(n('vwn-001'))).to.deep.equal([]);
    expect(book.observe(n('vwn-002'))).to.deep.equal([]);
    expect(book.discovered([n('vwn-001')])).to.deep.equal(['vwn-002']);
    expect(book.observe(n('vwn-003', DEPLOYING))).to.deep.equal([]);
    expect(book.observe(n('vwn-003'))).to.deep.equal(['vwn-003']);
    expect(book.observe(n('vwn-003')), 'once per transition into running').to.deep.equal([]);
  });

  it('pushes a redeployed pool hostname again after its removal', () => {
    const book = new GwdHostBook();
    book.discovered([n('vwn-001')]);
    book.observe(n('vwn-001', DRAINING));
    book.removed('vwn-001');
    expect(book.observe(n('vwn-001', DEPLOYING))).to.deep.equal([]);
    expect(book.observe(n('vwn-001'))).to.deep.equal(['vwn-001']);
  });

  it('a resync pushes running nodes gwd was not told about and forgets vanished ones', () => {
    const book = new GwdHostBook();
    book.discovered([n('vwn-001'), n('vwn-002')]);
    expect(book.resync([n('vwn-001'), n('vwn-005')])).to.deep.equal(['vwn-005']);
    expect(book.resync([n('vwn-001'), n('vwn-002'), n('vwn-005')]), 'vwn-002 vanished, so it came back').to.deep.equal(['vwn-002']);
  });

  it('remembers every node gwd heard of, so a removed one is not answered as unknown', () => {
    const book = new GwdHostBook();
    book.discovered([n('vwn-001')]);
    book.observe(n('vwn-002'));
    book.asked(n('vwn-009', DRAINING, 'fusion'));
    book.removed('vwn-001');
    expect(book.lastKnown('vwn-001')?.vo).to.equal('bio');
    expect(book.lastKnown('vwn-002'), 'pushed: told').to.not.equal(undefined);
    expect(book.lastKnown('vwn-009')?.vo).to.equal('fusion');
    expect(book.lastKnown('vwn-100')).to.equal(undefined);
  });

  it('pushes to the id gwd gave a host (MONITOR), a DISCOVER only where gwd gave none; never an id it did not give', () => {
    const book = new GwdHostBook();
    book.discovered([]);
    expect(book.observe(n('vwn-001'))).to.deep.equal(['vwn-001']);
    expect(book.pushesFor(['vwn-001']), 'no id yet').to.deep.equal([{ kind: 'discover', hostname: 'vwn-001' }]);
    book.learn('vwn-001', '7');
    expect(book.pushesFor(['vwn-001', 'vwn-002'])).to.deep.equal([{ kind: 'monitor', hostname: 'vwn-001', hid: '7' }, { kind: 'discover', hostname: 'vwn-002' }]);
  });

  it('a host gwd has an id for is pushed when its node leaves (no free node at once), and again when the name is reused', () => {
    const book = new GwdHostBook();
    book.discovered([n('vwn-001')]);
    expect(book.observe(n('vwn-001', DRAINING)), 'no id: gwd learns on its own schedule').to.deep.equal([]);
    book.observe(n('vwn-001'));
    book.learn('vwn-001', '0');
    expect(book.observe(n('vwn-001', DRAINING)), 'leaving, id known').to.deep.equal(['vwn-001']);
    book.removed('vwn-001');
    expect(book.observe(n('vwn-001', DEPLOYING))).to.deep.equal([]);
    expect(book.observe(n('vwn-001'))).to.deep.equal(['vwn-001']);
    expect(book.pushesFor(['vwn-001'])).to.deep.equal([{ kind: 'monitor', hostname: 'vwn-001', hid: '0' }]);
  });

  it('reports a node schedulable once per incarnation', () => {
    const book = new GwdHostBook();
    book.discovered([n('vwn-001')]);
    expect(book.markSchedulable('vwn-001')).to.equal(true);
    expect(book.markSchedulable('vwn-001')).to.equal(false);
    book.observe(n('vwn-001', DRAINING));
    book.removed('vwn-001');
    book.observe(n('vwn-001'));
    expect(book.markSchedulable('vwn-001'), 'the name deployed again').to.equal(true);
  });

  it('never pushes a name gwd cannot take', () => {
    const book = new GwdHostBook();
    book.discovered([]);
    expect(book.observe(n('-'))).to.deep.equal([]);
  });
});
