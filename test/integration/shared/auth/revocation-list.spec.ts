import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CrlError, verifyCrl } from '../../../../shared/auth/crl.js';
import { normalizeSerial } from '../../../../shared/auth/peer-identity.js';
import { RevocationList } from '../../../../shared/auth/revocation-list.js';
import { silentLogger } from '../../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { until } from '../../../helpers/wait.js';

const PKI = path.resolve('scripts/pki/make-site-pki.sh');
const pki = (...args: string[]): Promise<unknown> => runChecked(new ProcessRunner(), ['bash', PKI, ...args]);
const serialOf = async (file: string): Promise<string> => normalizeSerial(new X509Certificate(await readFile(file)).serialNumber);

// CRLs made by the project's PKI script (openssl ca), parsed and verified by shared/auth.
describe('shared/auth: CRLs from make-site-pki.sh', () => {
  let dir: string;
  let site: string;
  before(async () => {
    dir = await tempDir('vonode-crl-');
    site = path.join(dir, 'site');
    await pki(site, '--role', 'admin', 'alice', 'bob', '--role', 'agent', 'phys-01');
    await pki(path.join(dir, 'other'), '--role', 'admin', 'mallory');
  });

  it('a fresh site has an empty, valid CRL; a revoked certificate appears in it by serial', async () => {
    const ca = new X509Certificate(await readFile(path.join(site, 'ca.pem')));
    expect(verifyCrl(await readFile(path.join(site, 'crl.pem')), ca.publicKey).serials.size).to.equal(0);
    await pki(site, '--revoke', 'bob');
    const crl = verifyCrl(await readFile(path.join(site, 'crl.pem')), ca.publicKey);
    expect([...crl.serials]).to.deep.equal([await serialOf(path.join(site, 'bob.pem'))]);
    expect(crl.nextUpdate!.getTime()).to.be.greaterThan(Date.now());
  });

  it('refuses a CRL another CA signed, and one that is not a CRL', async () => {
    const ca = new X509Certificate(await readFile(path.join(site, 'ca.pem')));
    expect(() => verifyCrl(Buffer.from('garbage'), ca.publicKey)).to.throw(CrlError, /not an X.509 CRL/);
    expect(() => verifyCrl(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), ca.publicKey)).to.throw(CrlError, /no "BEGIN X509 CRL"/);
    const foreign = await readFile(path.join(dir, 'other', 'crl.pem'));
    expect(() => verifyCrl(foreign, ca.publicKey)).to.throw(CrlError, /does not verify with the site CA/);
  });

  it('reloads when the file changes; a bad replacement keeps the last good list', async () => {
    const crlFile = path.join(dir, 'watched-crl.pem');
    await copyFile(path.join(site, 'crl.pem'), crlFile);
    const list = await RevocationList.load(crlFile, path.join(site, 'ca.pem'), silentLogger());
    await list.startWatching(200);
    try {
      const alice = await serialOf(path.join(site, 'alice.pem'));
      expect(list.isRevoked(alice)).to.equal(false);
      await pki(site, '--revoke', 'alice');
      await copyFile(path.join(site, 'crl.pem'), crlFile);
      await until('alice revoked after reload', async () => (list.isRevoked(alice) ? true : undefined), 10_000);
      // A foreign CA's list (empty) must not un-revoke alice, nor must garbage.
      await copyFile(path.join(dir, 'other', 'crl.pem'), crlFile);
      await list.reload();
      expect(list.isRevoked(alice), 'after a foreign CRL').to.equal(true);
      await writeFile(crlFile, 'not a crl');
      await list.reload();
      expect(list.isRevoked(alice), 'after garbage').to.equal(true);
      expect(list.size).to.equal(2);
    } finally {
      await list.stop();
    }
  });

  it('refuses to start with a missing or foreign CRL, saying what to do', async () => {
    const err = await RevocationList.load(path.join(dir, 'missing.pem'), path.join(site, 'ca.pem'), silentLogger()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(CrlError);
    expect((err as Error).message).to.match(/cannot read the CRL.*make-site-pki.sh DIR --revoke NAME or drop tls.crl/);
    const foreign = await RevocationList.load(path.join(dir, 'other', 'crl.pem'), path.join(site, 'ca.pem'), silentLogger()).catch((e: unknown) => e);
    expect((foreign as Error).message).to.match(/does not verify with the site CA/);
  });

  it('the script refuses names without a role, unknown roles and unknown certificates to revoke', async () => {
    const runner = new ProcessRunner();
    const noRole = await runner.run(['bash', PKI, site, 'carol']);
    expect(noRole.code).to.equal(2);
    expect(noRole.stderr).to.match(/say the role of carol first: --role ROLE carol/);
    const badRole = await runner.run(['bash', PKI, site, '--role', 'root', 'carol']);
    expect(badRole.stderr).to.match(/unknown role root/);
    const unknown = await runner.run(['bash', PKI, site, '--revoke', 'nobody']);
    expect(unknown.code).to.equal(2);
    const again = await runner.run(['bash', PKI, site, '--revoke', 'bob']);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.match(/bob was already revoked/);
  });
});
