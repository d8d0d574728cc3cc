import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  checkOwnIdentity,
  checkProgram,
  checkTlsFiles,
  checkWritableDir,
  checkWritableFile,
  findExecutable,
  type PreflightProblem,
} from '../../../../shared/daemon/preflight.js';
import { issueTestCertificate as issue, type CertPair } from '../../../helpers/test-pki.js';

const fields = (problems: readonly PreflightProblem[]): string[] => problems.map((p) => p.field);

describe('shared/daemon/preflight', function () {
  this.timeout(20_000);
  let dir: string;
  let ca: CertPair;
  let node: CertPair;
  let stranger: CertPair;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vonode-preflight-'));
    ca = issue(dir, 'ca');
    node = issue(dir, 'node', ca);
    stranger = issue(dir, 'stranger'); // self-signed: not from the site CA
    await writeFile(path.join(dir, 'garbage.pem'), 'not a pem\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('checkTlsFiles', () => {
    it('passes a certificate issued by the CA, with its own key, within its validity', async () => {
      expect(await checkTlsFiles({ ca: ca.cert, cert: node.cert, key: node.key })).to.deep.equal([]);
    });

    // [what, files, now, field, message]
    const cases: Array<[string, () => { ca: string; cert: string; key: string; crl?: string }, number | undefined, string, RegExp]> = [
      ['a missing certificate', () => ({ ca: ca.cert, cert: path.join(dir, 'none.pem'), key: node.key }), undefined, 'tls.cert', /cannot read .*none\.pem: ENOENT; check the path and its permissions/],
      ['a CA that is not PEM', () => ({ ca: path.join(dir, 'garbage.pem'), cert: node.cert, key: node.key }), undefined, 'tls.ca', /garbage\.pem is not a PEM certificate/],
      ['a key that is not PEM', () => ({ ca: ca.cert, cert: node.cert, key: path.join(dir, 'garbage.pem') }), undefined, 'tls.key', /garbage\.pem is not a PEM private key/],
      ['the key of another certificate', () => ({ ca: ca.cert, cert: node.cert, key: stranger.key }), undefined, 'tls.key', /stranger-key\.pem is not the private key of .*node\.pem; give the key made with that certificate/],
      ['a certificate from another CA', () => ({ ca: ca.cert, cert: stranger.cert, key: stranger.key }), undefined, 'tls.cert', /stranger\.pem was not issued by the CA in .*ca\.pem; peers would refuse it/],
      ['an expired certificate', () => ({ ca: ca.cert, cert: node.cert, key: node.key }), Date.UTC(2200, 0, 1), 'tls.cert', /node\.pem expired on .*; issue a new certificate/],
      ['a certificate not valid yet', () => ({ ca: ca.cert, cert: node.cert, key: node.key }), Date.UTC(2000, 0, 1), 'tls.cert', /node\.pem is not valid before .*; check this host's clock/],
    ];
    for (const [what, files, now, field, message] of cases) {
      it(`reports ${what} under ${field}, saying what to do`, async () => {
        const problems = await checkTlsFiles(files(), now);
        expect(fields(problems), JSON.stringify(problems)).to.deep.equal([field]);
        expect(problems[0]!.message).to.match(message);
      });
    }
  });

  describe('checkOwnIdentity (the start\'s own role, name and CRL checks)', () => {
    let agent: CertPair;
    before(() => {
      agent = issue(dir, 'phys-01', ca, 'URI:urn:vonode:role:agent,DNS:localhost');
    });

    it('passes a certificate of the role the daemon runs as (and, for an agent, its host name)', async () => {
      expect(await checkOwnIdentity({ ca: ca.cert, ...agent }, { role: 'agent', name: 'phys-01' })).to.deep.equal([]);
    });

    it('reports the wrong role, the wrong host name, and a CRL that does not load, each under its field', async () => {
      const role = await checkOwnIdentity({ ca: ca.cert, ...agent }, { role: 'coordinator' });
      expect(fields(role)).to.deep.equal(['tls.cert']);
      expect(role[0]!.message).to.match(/this daemon needs a coordinator certificate/);
      const name = await checkOwnIdentity({ ca: ca.cert, ...agent }, { role: 'agent', name: 'phys-02' });
      expect(name[0]!.message).to.match(/names 'phys-01' but this agent registers as 'phys-02'/);
      const garbage = await checkOwnIdentity({ ca: ca.cert, ...agent, crl: path.join(dir, 'garbage.pem') }, { role: 'agent' });
      expect(fields(garbage)).to.deep.equal(['tls.crl']);
      const missing = await checkOwnIdentity({ ca: ca.cert, ...agent, crl: path.join(dir, 'none.crl') }, { role: 'agent' });
      expect(fields(missing)).to.deep.equal(['tls.crl']);
      expect(missing[0]!.message).to.match(/none\.crl/);
    });
  });

  describe('directories, files and programs (creating nothing)', () => {
    it('accepts an existing directory and one that can be made under a writable parent, and makes neither', async () => {
      const before = await readdir(dir);
      expect(await checkWritableDir('stateDir', dir)).to.equal(undefined);
      expect(await checkWritableDir('stateDir', path.join(dir, 'new/deeper/state'))).to.equal(undefined);
      expect(await checkWritableFile('stateDb', path.join(dir, 'new/state.db'))).to.equal(undefined);
      expect(await readdir(dir)).to.deep.equal(before);
    });

    it('refuses a path under a regular file, and a directory where a file must be', async () => {
      const under = await checkWritableDir('stateDir', path.join(dir, 'garbage.pem/state'));
      expect(under).to.deep.equal({ field: 'stateDir', message: `${path.join(dir, 'garbage.pem')} is not a directory, so ${path.join(dir, 'garbage.pem/state')} cannot be one; fix the path` });
      await mkdir(path.join(dir, 'a-dir'), { recursive: true });
      expect(await checkWritableFile('stateDb', path.join(dir, 'a-dir'))).to.deep.equal({ field: 'stateDb', message: `${path.join(dir, 'a-dir')} is not a regular file; fix the path` });
    });

    it('finds programs on PATH or in a directory, and says how to get a missing one', async () => {
      expect(await findExecutable('sh', '/nonexistent:/bin:/usr/bin')).to.match(/\/sh$/);
      expect(await findExecutable('sh', '/nonexistent')).to.equal(undefined);
      expect(await findExecutable(path.join(dir, 'garbage.pem'))).to.equal(undefined); // not executable
      expect(await checkProgram('hypervisor.qemu.binary', 'no-such-qemu', { searchPath: '/bin:/usr/bin', hint: 'install qemu' }))
        .to.deep.equal({ field: 'hypervisor.qemu.binary', message: 'no-such-qemu is not on PATH; install qemu' });
      expect(await checkProgram('batchSystem.sge.binDir', 'qconf', { dir, hint: 'set binDir' }))
        .to.deep.equal({ field: 'batchSystem.sge.binDir', message: `${path.join(dir, 'qconf')} is not an executable file; set binDir` });
    });
  });
});
