import { expect } from 'chai';
import {
  gidRangeFor,
  hostList,
  parseQconfAttributes,
  renderClusterQueue,
  renderExecHost,
  renderHostConfig,
  renderHostgroup,
  validateHostgroup,
  validateQueueName,
  voHostgroup,
} from '../../../../../coordinator/lrms/sge/qconf-files.js';
import { InvalidArgumentError } from '../../../../../shared/errors.js';

describe('coordinator/lrms/sge/qconf-files validation', () => {
  const queues: [string, boolean][] = [
    ['bio.q', true],
    ['fusion_2.q', true],
    ['all-q', true],
    ['', false],
    ['bio q', false],
    ['bio.q\nhostlist x', false],
    ['bio.q@host', false],
    ['bio.q,fusion.q', false],
    ['.q', false],
    ['x'.repeat(65), false],
  ];
  for (const [name, ok] of queues) {
    it(`queue ${JSON.stringify(name)} is ${ok ? 'accepted' : 'refused'}`, () => {
      if (ok) expect(validateQueueName('queue', name)).to.equal(name);
      else expect(() => validateQueueName('queue', name)).to.throw(InvalidArgumentError, /invalid queue/);
    });
  }
  const groups: [string, boolean][] = [
    ['@bio', true],
    ['bio', false],
    ['@', false],
    ['@bio fusion', false],
    ['@bio\n', false],
  ];
  for (const [name, ok] of groups) {
    it(`host group ${JSON.stringify(name)} is ${ok ? 'accepted' : 'refused'}`, () => {
      if (ok) expect(validateHostgroup('hostgroup', name)).to.equal(name);
      else expect(() => validateHostgroup('hostgroup', name)).to.throw(InvalidArgumentError);
    });
  }
  it('names a VO host group @vo', () => expect(voHostgroup('bio')).to.equal('@bio'));
});

describe('coordinator/lrms/sge/qconf-files renderers', () => {
  it('renders an exec host with only its name set', () => {
    const text = renderExecHost('vwn-bio-001');
    expect(text.split('\n')[0]).to.equal('hostname vwn-bio-001');
    expect(text).to.match(/^complex_values NONE$/m).and.match(/\n$/);
  });

  for (const bad of ['', 'a b', 'x\ncomplex_values slots=99', 'UPPER', '-lead']) {
    it(`refuses exec host name ${JSON.stringify(bad)}`, () => expect(() => renderExecHost(bad)).to.throw(InvalidArgumentError, /hostname/));
  }

  const ranges: [string, number, number, [number, number]][] = [
    ['10.123.0.11', 20000, 100, [21100, 21199]], // the recipe's 20000 + octet × 100
    ['10.123.0.12', 20000, 100, [21200, 21299]],
    ['10.0.1.0', 20000, 100, [20000 + 256 * 100, 20000 + 256 * 100 + 99]],
    ['10.0.255.255', 20000, 10, [20000 + 65535 * 10, 20000 + 65535 * 10 + 9]],
  ];
  for (const [ip, base, size, [first, last]] of ranges) {
    it(`gives ${ip} the gid range ${first}-${last}`, () => expect(gidRangeFor(ip, base, size)).to.deep.equal({ first, last }));
  }
  it('never overlaps for distinct last-two-octet addresses', () => {
    const a = gidRangeFor('10.1.0.255', 20000, 100);
    const b = gidRangeFor('10.1.1.0', 20000, 100);
    expect(b.first).to.equal(a.last + 1);
  });
  it('refuses a bad address and a range past 2^31', () => {
    expect(() => gidRangeFor('10.0.0', 20000, 100)).to.throw(InvalidArgumentError, /ip/);
    expect(() => gidRangeFor('10.0.255.255', 2 ** 31 - 100, 100)).to.throw(InvalidArgumentError, /gidRangeBase/);
  });

  it('renders the host-local configuration as its gid_range', () => {
    expect(renderHostConfig({ first: 21100, last: 21199 })).to.equal('gid_range 21100-21199\n');
    expect(() => renderHostConfig({ first: 5, last: 4 })).to.throw(InvalidArgumentError);
  });

  it('renders an empty host group', () => {
    expect(renderHostgroup('@bio')).to.equal('group_name @bio\nhostlist NONE\n');
    expect(() => renderHostgroup('@bio\nhostlist evil')).to.throw(InvalidArgumentError);
  });

  it('renders a VO queue over its host group with a 0-slot, disabled placeholder instance', () => {
    const attrs = parseQconfAttributes(renderClusterQueue({ queue: 'bio.q', hostgroup: '@bio', placeholderHost: 'sge-master' }));
    expect(attrs.get('qname')).to.equal('bio.q');
    expect(attrs.get('hostlist')).to.equal('@bio sge-master');
    expect(attrs.get('slots')).to.equal('1,[sge-master=0]');
    expect(attrs.get('initial_state')).to.equal('default,[sge-master=disabled]');
    expect(attrs.get('h_vmem')).to.equal('INFINITY');
    expect(attrs.size).to.equal(50); // every attribute `qconf -sq` shows for 8.1.9
  });

  const badQueues: [string, Parameters<typeof renderClusterQueue>[0], RegExp][] = [
    ['queue', { queue: 'bio.q\nslots 99', hostgroup: '@bio', placeholderHost: 'm' }, /queue/],
    ['hostgroup', { queue: 'bio.q', hostgroup: 'bio', placeholderHost: 'm' }, /hostgroup/],
    ['placeholder', { queue: 'bio.q', hostgroup: '@bio', placeholderHost: 'm,x' }, /placeholderHost/],
    ['slots', { queue: 'bio.q', hostgroup: '@bio', placeholderHost: 'm', slots: 0 }, /slots/],
  ];
  for (const [what, spec, message] of badQueues) {
    it(`refuses a queue with a bad ${what}`, () => expect(() => renderClusterQueue(spec)).to.throw(InvalidArgumentError, message));
  }
});

describe('coordinator/lrms/sge/qconf-files parseQconfAttributes', () => {
  it('reads `qconf -shgrp` output, joining wrapped lines', () => {
    const attrs = parseQconfAttributes('group_name @bio\nhostlist vwn-bio-001 vwn-bio-002 \\\n         vwn-bio-003\n');
    expect(hostList(attrs.get('hostlist'))).to.deep.equal(['vwn-bio-001', 'vwn-bio-002', 'vwn-bio-003']);
  });
  const lists: [string | undefined, string[]][] = [
    [undefined, []],
    ['NONE', []],
    ['@bio sge-master', ['@bio', 'sge-master']],
    ['a,b c', ['a', 'b', 'c']],
  ];
  for (const [value, hosts] of lists) it(`host list ${JSON.stringify(value)} → ${JSON.stringify(hosts)}`, () => expect(hostList(value)).to.deep.equal(hosts));
});
