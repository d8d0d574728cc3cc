import { expect } from 'chai';
import {
  IDENTITY_PORT_NAME,
  TEMPLATE_CMDLINE_FLAG,
  TEMPLATE_CMDLINE_WORDS,
  TemplateRestoreError,
  identityLine,
  templateCmdline,
  type GuestIdentity,
} from '../../../../agent/hypervisor/snapshot.js';

describe('agent/hypervisor/snapshot', () => {
  const id: GuestIdentity = { hostname: 'vwn-bio-001', mac: '52:54:00:AB:CD:EF', ip: '10.77.0.11', unixTimeS: 1_700_000_000.987, seedHex: 'ab'.repeat(32) };

  describe('identityLine', () => {
    it('is one line of key=value words the guest parses', () => {
      expect(identityLine(id)).to.equal(`identity hostname=vwn-bio-001 mac=52:54:00:ab:cd:ef ip=10.77.0.11 time=1700000000 seed=${'ab'.repeat(32)}\n`);
    });

    it('lower-cases the MAC and truncates the clock to whole seconds', () => {
      const line = identityLine({ ...id, mac: 'AA:BB:CC:DD:EE:FF', unixTimeS: 12.999 });
      expect(line).to.contain(' mac=aa:bb:cc:dd:ee:ff ');
      expect(line).to.contain(' time=12 ');
    });

    it('ends with exactly one newline and holds no other', () => {
      const line = identityLine(id);
      expect(line.endsWith('\n')).to.equal(true);
      expect(line.indexOf('\n')).to.equal(line.length - 1);
      const words = line.trim().split(' ');
      expect(words[0]).to.equal('identity');
      expect(words.slice(1).map((w) => w.split('=')[0])).to.deep.equal(['hostname', 'mac', 'ip', 'time', 'seed']);
    });
  });

  describe('templateCmdline', () => {
    it('appends the template flag and init_on_free=1 to the appliance command line', () => {
      expect(TEMPLATE_CMDLINE_WORDS.split(' ')).to.deep.equal([TEMPLATE_CMDLINE_FLAG, 'init_on_free=1']);
      expect(templateCmdline('console=ttyS0 quiet')).to.equal('console=ttyS0 quiet vonode.template=1 init_on_free=1');
    });

    it('starts from console=ttyS0 (the driver default) when the appliance has no command line', () => {
      expect(templateCmdline(undefined)).to.equal('console=ttyS0 vonode.template=1 init_on_free=1');
    });

    it('differs from the appliance command line, so a template never shares a key with a cold boot', () => {
      expect(templateCmdline('console=ttyS0')).to.not.equal('console=ttyS0');
      expect(templateCmdline('a').split(' ')).to.include(TEMPLATE_CMDLINE_FLAG);
    });
  });

  describe('TemplateRestoreError', () => {
    it('is an Error named TemplateRestoreError that says whether the state file is bad', () => {
      const bad = new TemplateRestoreError('digest mismatch', true);
      const transient = new TemplateRestoreError('socket closed', false);
      expect(bad).to.be.instanceOf(Error).and.instanceOf(TemplateRestoreError);
      expect(bad.name).to.equal('TemplateRestoreError');
      expect(bad.message).to.equal('digest mismatch');
      expect(bad.stateBad).to.equal(true);
      expect(transient.stateBad).to.equal(false);
    });
  });

  it('names the identity port the appliance looks for', () => {
    expect(IDENTITY_PORT_NAME).to.equal('org.vonode.identity');
  });
});
