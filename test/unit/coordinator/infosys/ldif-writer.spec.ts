import { expect } from 'chai';
import { dnLine, escapeDnValue, formatLdif, isSafeLdifString, ldifLine, rdn, validateDn } from '../../../../coordinator/infosys/ldif-writer.js';
import { InvalidArgumentError } from '../../../../shared/errors.js';
import { parseDn, parseLdif } from '../../../helpers/ldif-parser.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('LDIF writer (RFC 2849 values, RFC 4514 DNs)', () => {
  const lines: Array<[string, string | number, string]> = [
    ['plain', 'bio.q', 'a: bio.q'],
    ['number', 42, 'a: 42'],
    ['zero', 0, 'a: 0'],
    ['inner colon and spaces', 'VO:bio x', 'a: VO:bio x'],
    ['leading space', ' x', `a:: ${b64(' x')}`],
    ['trailing space', 'x ', `a:: ${b64('x ')}`],
    ['leading colon', ':x', `a:: ${b64(':x')}`],
    ['leading <', '<file:///etc/passwd', `a:: ${b64('<file:///etc/passwd')}`],
    ['newline', 'a\nb', `a:: ${b64('a\nb')}`],
    ['carriage return', 'a\rb', `a:: ${b64('a\rb')}`],
    ['NUL', 'a\0b', `a:: ${b64('a\0b')}`],
    ['non-ASCII', 'Zürich', `a:: ${b64('Zürich')}`],
    ['DEL (base64 too, though RFC 2849 allows it)', 'a\x7f', `a:: ${b64('a\x7f')}`],
    ['TAB', 'a\tb', `a:: ${b64('a\tb')}`],
    ['tilde', '~x', 'a: ~x'],
  ];
  for (const [what, value, line] of lines) {
    it(`writes a ${what} value as ${JSON.stringify(line).slice(0, 40)}`, () => {
      expect(ldifLine('a', value)).to.equal(line);
      const [entry] = parseLdif(`dn: x=y\n${line}\n`);
      expect(entry!.attrs.get('a')).to.deep.equal([String(value)]);
    });
  }

  it('refuses bad names, empty strings, non-integers and lone surrogates', () => {
    for (const [name, value] of [['1a', 'x'], ['a b', 'x'], ['a:', 'x'], ['a', ''], ['a', 1.5], ['a', Number.NaN], ['a', Infinity], ['a', '\ud800']] as const) {
      expect(() => ldifLine(name, value), `${name}=${String(value)}`).to.throw(InvalidArgumentError);
    }
  });

  it('writes a plain dn: line for safe DNs and dn:: base64 otherwise', () => {
    expect(dnLine('o=glue')).to.equal('dn: o=glue');
    expect(dnLine('o=zürich')).to.equal(`dn:: ${b64('o=zürich')}`);
    expect(() => dnLine('')).to.throw(InvalidArgumentError);
    expect(isSafeLdifString('')).to.equal(true);
  });

  const escapes: Array<[string, string]> = [
    ['bio.q', 'bio.q'],
    ['a,b', 'a\\,b'],
    ['a+b', 'a\\+b'],
    ['a=b', 'a\\=b'],
    ['"q"', '\\"q\\"'],
    ['<a;b>', '\\<a\\;b\\>'],
    ['back\\slash', 'back\\\\slash'],
    [' lead', '\\ lead'],
    ['trail ', 'trail\\ '],
    [' ', '\\ '],
    ['#hash', '\\#hash'],
    ['in#side', 'in#side'],
    ['a\0b', 'a\\00b'],
    ['host:2119/jobmanager-sge-bio.q', 'host:2119/jobmanager-sge-bio.q'],
  ];
  for (const [value, escaped] of escapes) {
    it(`escapes the RDN value ${JSON.stringify(value)} as ${escaped} and reads it back`, () => {
      expect(escapeDnValue(value)).to.equal(escaped);
      expect(parseDn(`${rdn('GLUE2ShareID', value)},o=glue`)).to.deep.equal([['glue2shareid', value], ['o', 'glue']]);
      expect(validateDn('dn', `${rdn('GLUE2ShareID', value)},o=glue`)).to.be.a('string');
    });
  }

  it('checks DNs given on the command line', () => {
    for (const ok of ['o=glue', 'GLUE2GroupID=resource,o=glue', 'GLUE2GroupID=resource, o=glue', 'mds-vo-name=local,o=grid', 'cn=a\\,b,o=x', 'cn=a\\2Cb,o=x', '2.5.4.3=x,o=y', 'cn=a+sn=b,o=x']) {
      expect(validateDn('suffix', ok), ok).to.equal(ok);
    }
    for (const bad of ['', ' ', 'glue', 'o=', '=x', 'o=glue,', 'o=glue,,o=x', 'cn=a\\', 'cn=a\\zz', 'cn=a;b', 'c n=x', 'cn=<x>']) {
      expect(() => validateDn('suffix', bad), bad).to.throw(InvalidArgumentError, /suffix/);
    }
  });

  it('formats entries with an empty line after each, attributes in the given order', () => {
    const text = formatLdif([
      { dn: 'o=glue', attributes: [['objectClass', 'organization'], ['o', 'glue']] },
      { dn: 'cn=x,o=glue', attributes: [['cn', 'x'], ['description', ' padded'], ['description', 'second']] },
    ]);
    expect(text).to.equal(`dn: o=glue\nobjectClass: organization\no: glue\n\ndn: cn=x,o=glue\ncn: x\ndescription:: ${b64(' padded')}\ndescription: second\n\n`);
    expect(parseLdif(text).map((e) => [e.dn, Object.fromEntries(e.attrs)])).to.deep.equal([
      ['o=glue', { objectclass: ['organization'], o: ['glue'] }],
      ['cn=x,o=glue', { cn: ['x'], description: [' padded', 'second'] }],
    ]);
    expect(formatLdif([])).to.equal('');
  });
});
