import { expect } from 'chai';
import type { PeerCertificate } from 'node:tls';
import { identityOf, normalizeSerial } from '../../../../shared/auth/peer-identity.js';

const cert = (cn: string, san: string, serial = '0A1B'): Pick<PeerCertificate, 'subject' | 'subjectaltname' | 'serialNumber'> => ({
  subject: { CN: cn } as PeerCertificate['subject'],
  subjectaltname: san,
  serialNumber: serial,
});

describe('shared/auth/peer-identity', () => {
  const cases: Array<[string, string, string | undefined, RegExp | undefined]> = [
    ['one role', 'DNS:cli, URI:urn:vonode:role:admin', 'admin', undefined],
    ['role first, IP after', 'URI:urn:vonode:role:agent, IP Address:127.0.0.1', 'agent', undefined],
    ['no role', 'DNS:cli', undefined, /carries no vonode role.*--role ROLE cli/],
    ['no SAN at all', '', undefined, /carries no vonode role/],
    ['two roles', 'URI:urn:vonode:role:reader, URI:urn:vonode:role:admin', undefined, /2 vonode roles/],
    ['unknown role', 'URI:urn:vonode:role:root', undefined, /unknown role "root"/],
    ['role-like DNS name is no role', 'DNS:urn:vonode:role:admin', undefined, /carries no vonode role/],
    ['other namespace', 'URI:urn:other:role:admin', undefined, /carries no vonode role/],
    ['quoted (escaped) entry is no role', 'URI:"urn:vonode:role:admin, DNS:x"', undefined, /carries no vonode role/],
  ];
  for (const [what, san, role, problem] of cases) {
    it(`${what}: ${san || '(empty)'}`, () => {
      const id = identityOf(cert('cli', san));
      expect(id.name).to.equal('cli');
      expect(id.role).to.equal(role);
      if (problem) expect(id.problem).to.match(problem);
      else expect(id.problem).to.equal(undefined);
    });
  }

  it('normalizes serials the way Node and CRLs differ: case, leading zeros, colons', () => {
    expect(normalizeSerial('00:0a:1b')).to.equal('A1B');
    expect(normalizeSerial('0A1B')).to.equal('A1B');
    expect(normalizeSerial('0')).to.equal('0');
    expect(identityOf(cert('x', '', '00ff')).serial).to.equal('FF');
  });
});
