import { expect } from 'chai';
import { AttributeError, formatAttribute, parseAttributes, type HostAttribute } from '../../../../coordinator/gridway/im-attributes.js';
import {
  MAX_LINE_BYTES,
  ReplyFormatError,
  discoverSuccess,
  failureReply,
  finalizeSuccess,
  formatReply,
  initSuccess,
  monitorSuccess,
  parseReply,
  parseRequest,
  type ImReply,
  type RequestErrorReason,
} from '../../../../coordinator/gridway/im-protocol.js';

describe('coordinator/gridway/im-protocol', () => {
  describe('parseRequest: the four forms gwd writes', () => {
    const valid: Array<[string, unknown]> = [
      ['INIT - - -', { action: 'INIT' }],
      ['DISCOVER - - -', { action: 'DISCOVER' }],
      ['MONITOR 0 vwn-001 -', { action: 'MONITOR', hid: '0', hostname: 'vwn-001' }],
      ['MONITOR 12345 node.example.org -', { action: 'MONITOR', hid: '12345', hostname: 'node.example.org' }],
      ['FINALIZE - - -', { action: 'FINALIZE' }],
      ['DISCOVER - - -\r', { action: 'DISCOVER' }],
      ['  MONITOR  7\tvwn-002  - ', { action: 'MONITOR', hid: '7', hostname: 'vwn-002' }],
    ];
    for (const [line, request] of valid) {
      it(`accepts ${JSON.stringify(line)}`, () => {
        expect(parseRequest(line)).to.deep.equal({ ok: true, request });
      });
    }
  });

  describe('parseRequest: malformed lines are typed errors, with the action and hid only when a FAILURE can be addressed', () => {
    const bad: Array<[string, RequestErrorReason, string | undefined, string | undefined]> = [
      ['', 'empty', undefined, undefined],
      ['   ', 'empty', undefined, undefined],
      ['HELLO - - -', 'unknown-action', undefined, undefined],
      ['discover - - -', 'unknown-action', undefined, undefined],
      ['INIT', 'field-count', 'INIT', undefined],
      ['DISCOVER - - - -', 'field-count', 'DISCOVER', undefined],
      ['DISCOVER a b c', 'bad-field', 'DISCOVER', undefined],
      ['FINALIZE - x -', 'bad-field', 'FINALIZE', undefined],
      ['MONITOR', 'bad-hid', 'MONITOR', undefined],
      ['MONITOR - vwn-001 -', 'bad-hid', 'MONITOR', undefined],
      ['MONITOR -3 vwn-001 -', 'bad-hid', 'MONITOR', undefined],
      ['MONITOR 1.5 vwn-001 -', 'bad-hid', 'MONITOR', undefined],
      ['MONITOR 4 vwn-001', 'field-count', 'MONITOR', '4'],
      ['MONITOR 4 vwn-001 - extra', 'field-count', 'MONITOR', '4'],
      ['MONITOR 4 - -', 'bad-host', 'MONITOR', '4'],
      ['MONITOR 4 "quoted" -', 'bad-host', 'MONITOR', '4'],
      ['MONITOR 4 vwn-001 x', 'bad-field', 'MONITOR', '4'],
      [`DISCOVER - - - ${'x'.repeat(MAX_LINE_BYTES)}`, 'too-long', 'DISCOVER', undefined],
    ];
    for (const [line, reason, action, hid] of bad) {
      it(`${reason}: ${JSON.stringify(line.slice(0, 40))}`, () => {
        const r = parseRequest(line);
        expect(r.ok).to.equal(false);
        if (r.ok) return;
        expect(r.error.reason).to.equal(reason);
        expect(r.error.action).to.equal(action);
        expect(r.error.hid).to.equal(hid);
        expect(r.error.message).to.be.a('string').and.not.equal('');
      });
    }
  });

  describe('reply formatters', () => {
    it('INIT and FINALIZE carry "-"', () => {
      expect(initSuccess()).to.equal('INIT - SUCCESS -');
      expect(finalizeSuccess()).to.equal('FINALIZE - SUCCESS -');
    });

    it('DISCOVER lists hosts with single spaces', () => {
      expect(discoverSuccess(['vwn-001', 'vwn-002'])).to.deep.equal(['DISCOVER - SUCCESS vwn-001 vwn-002']);
    });

    it('DISCOVER with no host has no info field at all (never "-", which gwd would add as a host)', () => {
      expect(discoverSuccess([])).to.deep.equal(['DISCOVER - SUCCESS']);
      expect(parseReply('DISCOVER - SUCCESS')).to.deep.equal({ action: 'DISCOVER', hid: '-', result: 'SUCCESS', info: '' });
    });

    it('DISCOVER splits a host list longer than one line over several lines, none too long', () => {
      const hosts = Array.from({ length: 9000 }, (_, i) => `vwn-${String(i).padStart(5, '0')}`);
      const lines = discoverSuccess(hosts);
      expect(lines.length).to.equal(2);
      for (const l of lines) expect(Buffer.byteLength(l)).to.be.at.most(MAX_LINE_BYTES);
      expect(lines.flatMap((l) => parseReply(l).info.split(' '))).to.deep.equal(hosts);
    });

    it('DISCOVER refuses "-" and names with blanks or quotes', () => {
      for (const h of ['-', 'a b', 'x"y', '', '-node']) expect(() => discoverSuccess([h]), h).to.throw(ReplyFormatError);
    });

    it('MONITOR formats attributes; the result reads back', () => {
      const line = monitorSuccess('3', [{ name: 'HOSTNAME', value: 'vwn-001' }, { name: 'NODECOUNT', value: 1 }, { name: 'QUEUE_NAME', index: 0, value: 'bio.q' }]);
      expect(line).to.equal('MONITOR 3 SUCCESS HOSTNAME="vwn-001" NODECOUNT=1 QUEUE_NAME[0]="bio.q"');
      expect(parseReply(line).hid).to.equal('3');
    });

    it('FAILURE messages become one single-spaced line that fits', () => {
      expect(failureReply('DISCOVER', 'coordinator\n  down\t(refused) ')).to.equal('DISCOVER - FAILURE coordinator down (refused)');
      expect(failureReply('MONITOR', 'no such host', '9')).to.equal('MONITOR 9 FAILURE no such host');
      expect(failureReply('DISCOVER', '')).to.equal('DISCOVER - FAILURE failed');
      const long = failureReply('MONITOR', 'é'.repeat(70_000), '1');
      expect(Buffer.byteLength(long)).to.be.at.most(MAX_LINE_BYTES);
      expect(long).to.not.include('\uFFFD');
    });

    const refused: Array<[string, ImReply]> = [
      ['MONITOR without a numeric hid', { action: 'MONITOR', hid: '-', result: 'FAILURE', info: 'x' }],
      ['a hid on DISCOVER', { action: 'DISCOVER', hid: '3', result: 'SUCCESS', info: 'a' }],
      ['an unknown result', { action: 'INIT', hid: '-', result: 'OK' as 'SUCCESS', info: '-' }],
      ['an unknown action', { action: 'PING' as 'INIT', hid: '-', result: 'SUCCESS', info: '-' }],
      ['a newline in info', { action: 'DISCOVER', hid: '-', result: 'FAILURE', info: 'a\nb' }],
      ['double spaces', { action: 'DISCOVER', hid: '-', result: 'SUCCESS', info: 'a  b' }],
      ['a trailing space', { action: 'DISCOVER', hid: '-', result: 'SUCCESS', info: 'a ' }],
      ['INIT SUCCESS with info other than "-"', { action: 'INIT', hid: '-', result: 'SUCCESS', info: 'ok' }],
      ['a FAILURE without a reason', { action: 'MONITOR', hid: '1', result: 'FAILURE', info: '' }],
      ['MONITOR SUCCESS with a bare word', { action: 'MONITOR', hid: '1', result: 'SUCCESS', info: 'ARCH=x86_64' }],
      ['MONITOR SUCCESS with no attribute', { action: 'MONITOR', hid: '1', result: 'SUCCESS', info: '' }],
      ['a line over the limit', { action: 'DISCOVER', hid: '-', result: 'SUCCESS', info: 'h'.repeat(MAX_LINE_BYTES) }],
    ];
    for (const [what, reply] of refused) {
      it(`formatReply refuses ${what}`, () => {
        expect(() => formatReply(reply)).to.throw(ReplyFormatError);
      });
    }
  });

  describe('parseReply (what the gwd harness checks every line with)', () => {
    const bad = ['', 'INIT', 'INIT -', 'INIT  - SUCCESS -', 'DISCOVER - SUCCESS ', 'DISCOVER - SUCCESS -x', 'MONITOR 1 SUCCESS CPU_MHZ=2.5', 'MONITOR x FAILURE no'];
    for (const line of bad) {
      it(`refuses ${JSON.stringify(line)}`, () => {
        expect(() => parseReply(line)).to.throw(ReplyFormatError);
      });
    }
  });

  describe('attributes', () => {
    const good: Array<[HostAttribute, string]> = [
      [{ name: 'CPU_MHZ', value: 2400 }, 'CPU_MHZ=2400'],
      [{ name: 'ARCH', value: 'x86_64' }, 'ARCH="x86_64"'],
      [{ name: 'QUEUE_FREENODECOUNT', index: 66, value: 0 }, 'QUEUE_FREENODECOUNT[66]=0'],
      [{ name: 'QUEUE_STATUS', index: 0, value: 'Production queue' }, 'QUEUE_STATUS[0]="Production queue"'],
      [{ name: 'VONODE_VO', value: 'bio' }, 'VONODE_VO="bio"'],
      [{ name: 'MY_INT', index: 2, value: -5 }, 'MY_INT[2]=-5'],
    ];
    for (const [attr, text] of good) {
      it(`writes ${text} and reads it back`, () => {
        expect(formatAttribute(attr)).to.equal(text);
        expect(parseAttributes(text)).to.deep.equal([attr]);
      });
    }

    const bad: Array<[string, HostAttribute]> = [
      ['a float', { name: 'CPU_MHZ', value: 2400.5 }],
      ['a number beyond 32 bits', { name: 'SIZE_MEM_MB', value: 2 ** 31 }],
      ['a string for an integer attribute', { name: 'NODECOUNT', value: '1' }],
      ['a number for a string attribute', { name: 'HOSTNAME', value: 1 }],
      ['a quote inside a string (no escapes)', { name: 'OS_NAME', value: 'Linux "x"' }],
      ['a newline inside a string', { name: 'OS_NAME', value: 'Linux\nARCH="x"' }],
      ['a tab inside a string', { name: 'OS_NAME', value: 'a\tb' }],
      ['an empty string (NULL in gwd)', { name: 'CPU_MODEL', value: '' }],
      ['a queue attribute without an index', { name: 'QUEUE_NAME', value: 'bio.q' }],
      ['a host attribute with an index', { name: 'HOSTNAME', index: 0, value: 'x' }],
      ['queue index 67', { name: 'QUEUE_NAME', index: 67, value: 'bio.q' }],
      ['a negative queue index', { name: 'QUEUE_NAME', index: -1, value: 'bio.q' }],
      ['a name starting with a digit', { name: '1X', value: 1 }],
      ['a name with a dash', { name: 'MY-VAR', value: 1 }],
    ];
    for (const [what, attr] of bad) {
      it(`refuses ${what}`, () => {
        expect(() => formatAttribute(attr)).to.throw(AttributeError);
      });
    }

    const unreadable = ['ARCH=x86_64', 'CPU_MHZ=2.5', 'A=1  B=2', 'A=1 ', ' A=1', 'A="x\\"y"', 'A=', 'QUEUE_NAME="x"', 'A[1]="x" B'];
    for (const text of unreadable) {
      it(`parseAttributes refuses ${JSON.stringify(text)}`, () => {
        expect(() => parseAttributes(text)).to.throw(AttributeError);
      });
    }
  });
});
