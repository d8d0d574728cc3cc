import { expect } from 'chai';
import { mkdir, open, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HttpImageFetcher } from '../../../../agent/images/image-fetcher.js';
import { ImageSourcePolicy, sourcePrefixProblem } from '../../../../agent/images/source-policy.js';
import { PermissionDeniedError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const refusal = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return expect.fail('expected a refusal');
};
const rejection = (p: Promise<unknown>): Promise<Error> => p.then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error);

describe('agent/images/source-policy', () => {
  describe('sourcePrefixProblem (images.sources entries)', () => {
    const cases: Array<[string, RegExp | undefined]> = [
      ['http://10.130.0.1:8080/appliances/', undefined],
      ['https://repo.site/', undefined],
      ['file:///srv/vonode/appliances/', undefined],
      ['http://[fd00::1]:8080/img/', undefined],
      ['http://repo/appliances', /must end with '\/'/],
      ['ftp://repo/appliances/', /scheme ftp:/],
      ['http://user:secret@repo/appliances/', /credentials/],
      ['http://repo/appliances/?v=1', /query or a fragment/],
      ['http://repo/appliances/?', /query or a fragment/],
      ['http://repo/appliances/#top', /query or a fragment/],
      ['file://nas/srv/appliances/', /with a host; a file prefix names a local directory/],
      ['file:///', /every file of this host/],
      ['http://repo/a%2fb/', /encoded/],
      ['HTTP://Repo/appliances/', /normal form; write it as http:\/\/repo\/appliances\//],
      ['http://repo/x/../appliances/', /normal form; write it as http:\/\/repo\/appliances\//],
      ['http://repo:80/appliances/', /normal form/],
      ['file://localhost/srv/appliances/', /normal form; write it as file:\/\/\/srv\/appliances\//],
      ['not a url', /is not a URL/],
      ['', /is not a URL/],
    ];
    for (const [text, problem] of cases) {
      it(`${problem ? 'refuses' : 'accepts'} ${JSON.stringify(text)}`, () => {
        if (problem) expect(sourcePrefixProblem(text)).to.match(problem);
        else expect(sourcePrefixProblem(text)).to.equal(undefined);
      });
    }

    it('is what the constructor enforces', () => {
      expect(() => new ImageSourcePolicy(['http://repo/appliances'])).to.throw(/images\.sources: http:\/\/repo\/appliances must end with/);
    });
  });

  describe('check (a request URL against the prefixes, no file system)', () => {
    const policy = new ImageSourcePolicy([
      'http://repo/appliances/',
      'https://repo.site/',
      'http://10.0.0.1:8080/img/',
      'file:///srv/vonode/appliances/',
    ]);
    const cases: Array<[string, boolean, string]> = [
      ['http://repo/appliances/bio.qcow2', true, 'under a prefix'],
      ['http://repo/appliances/bio/v2/disk.qcow2', true, 'deeper under a prefix'],
      ['http://REPO/appliances/bio.qcow2', true, 'host names are case-insensitive'],
      ['http://repo:80/appliances/bio.qcow2', true, 'the default port is the port'],
      ['http://repo/other/../appliances/bio.qcow2', true, '".." resolved first, landing inside'],
      ['https://repo.site/any/where.img', true, 'a whole origin'],
      ['http://10.0.0.1:8080/img/x.raw', true, 'with a port'],
      ['file:///srv/vonode/appliances/bio.qcow2', true, 'a file in the allowed directory'],
      ['file://localhost/srv/vonode/appliances/bio.qcow2', true, 'file://localhost is the local host'],
      ['http://repo/appliances-evil/bio.qcow2', false, 'prefix confusion: a sibling directory sharing the name'],
      ['http://repo/appliances', false, 'the directory itself, not a file under it'],
      ['http://repo/appliancesX', false, 'prefix confusion without a slash'],
      ['http://repo/appliances/../secret', false, '".." climbing out'],
      ['http://repo/appliances/%2e%2e/secret', false, '"%2e%2e" climbing out'],
      ['http://repo/appliances/%2E%2e/secret', false, '"%2E%2e" climbing out'],
      ['http://repo/appliances/.%2e/secret', false, '".%2e" climbing out'],
      ['http://repo/appliances/..%2fsecret', false, 'an encoded slash the server would decode'],
      ['http://repo/appliances/..%5csecret', false, 'an encoded backslash'],
      ['http://repo/appliances/x%00.qcow2', false, 'an encoded NUL'],
      ['http://repo/appliances\\..\\secret', false, 'backslashes are slashes in http URLs'],
      ['http://repo.evil/appliances/bio.qcow2', false, 'another host'],
      ['http://repo.site/x.img', false, 'another scheme (http for an https prefix)'],
      ['https://repo/appliances/bio.qcow2', false, 'another scheme (https for an http prefix)'],
      ['http://repo:8080/appliances/bio.qcow2', false, 'another port'],
      ['http://10.0.0.1/img/x.raw', false, 'the port left out'],
      ['http://user:pw@repo/appliances/bio.qcow2', false, 'credentials'],
      ['http://repo/appliances/bio.qcow2?x=../../etc/passwd', false, 'a query string'],
      ['http://repo/appliances/bio.qcow2?', false, 'an empty query string'],
      ['http://repo/appliances/bio.qcow2#frag', false, 'a fragment'],
      ['file:///etc/shadow', false, 'a local file outside'],
      ['file:///srv/vonode/appliances/../../../etc/shadow', false, 'a local file, ".." climbing out'],
      ['file:///srv/vonode/appliances/%2e%2e/%2e%2e/%2e%2e/etc/shadow', false, 'a local file, "%2e%2e" climbing out'],
      ['file:///srv/vonode/appliances/..%2f..%2fetc/shadow', false, 'a local file, encoded slashes'],
      ['file://nas/srv/vonode/appliances/bio.qcow2', false, 'a file URL with a remote host'],
      ['file:///srv/vonode/appliances-evil/x', false, 'a local sibling directory'],
      ['ftp://repo/appliances/bio.qcow2', false, 'an unsupported scheme'],
      ['data:text/plain,hello', false, 'a data URL'],
      ['not a url', false, 'not a URL'],
    ];
    for (const [url, allowed, why] of cases) {
      it(`${allowed ? 'allows' : 'refuses'} ${url} (${why})`, () => {
        if (allowed) {
          expect(policy.check(url).href).to.be.a('string');
          return;
        }
        const err = refusal(() => policy.check(url));
        expect(err).to.be.instanceOf(PermissionDeniedError);
        expect(err.message).to.contain(`image URL ${url}`);
        expect(err.message).to.contain('images.sources');
      });
    }

    it('refuses everything when images.sources is empty, saying so', () => {
      const err = refusal(() => new ImageSourcePolicy([]).check('http://repo/appliances/bio.qcow2'));
      expect(err).to.be.instanceOf(PermissionDeniedError);
      expect(err.message).to.match(/add the image repository's URL prefix to images\.sources .*it is empty, so this agent fetches no image/);
    });

    it('names the redirecting URL and its target', () => {
      const err = refusal(() => policy.check('http://evil/x', new URL('http://repo/appliances/bio.qcow2')));
      expect(err.message).to.contain('image URL http://repo/appliances/bio.qcow2 redirects to http://evil/x, which is not under any prefix of images.sources');
    });
  });

  describe('local files: symbolic links cannot leave the allowed directories', () => {
    let dir: string;
    let repo: string;
    let policy: ImageSourcePolicy;
    const fileUrl = (...parts: string[]): URL => pathToFileURL(path.join(...parts));

    before(async () => {
      dir = await tempDir('vonode-srcpol-');
      repo = path.join(dir, 'repo');
      await mkdir(path.join(repo, 'bio'), { recursive: true });
      await writeFile(path.join(repo, 'bio', 'disk.img'), 'the image');
      await writeFile(path.join(dir, 'secret'), 'not an image');
      await symlink(path.join(dir, 'secret'), path.join(repo, 'escape'));
      await symlink('../secret', path.join(repo, 'escape-relative'));
      await symlink('/etc', path.join(repo, 'etc'));
      await symlink(path.join(dir, 'nowhere'), path.join(repo, 'dangling'));
      await symlink(path.join(repo, 'bio', 'disk.img'), path.join(repo, 'current.img'));
      // The allowed directory itself reached through a symbolic link.
      await symlink(repo, path.join(dir, 'alias'));
      policy = new ImageSourcePolicy([`${pathToFileURL(repo).href}/`, `${pathToFileURL(path.join(dir, 'alias')).href}/`]);
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const allowed: Array<[string, string[], string]> = [
      ['a file in the directory', ['repo', 'bio', 'disk.img'], 'bio/disk.img'],
      ['a link to a file in the directory', ['repo', 'current.img'], 'bio/disk.img'],
      ['a file under an allowed directory that is itself a link', ['alias', 'bio', 'disk.img'], 'bio/disk.img'],
    ];
    for (const [what, parts, real] of allowed) {
      it(`resolves ${what}`, async () => {
        expect(await policy.resolveLocalFile(fileUrl(dir, ...parts))).to.equal(path.join(await realpath(repo), real));
      });
    }

    const escapes: Array<[string, string[]]> = [
      ['an absolute link to a file outside', ['repo', 'escape']],
      ['a relative link to a file outside', ['repo', 'escape-relative']],
      ['a link to a directory outside (/etc)', ['repo', 'etc', 'shadow']],
      ['a link to a directory outside, to a file that does not exist there', ['repo', 'etc', 'no-such-file-here']],
      ['a dangling link to a path outside', ['repo', 'dangling']],
    ];
    for (const [what, parts] of escapes) {
      it(`refuses ${what} with PERMISSION_DENIED, revealing nothing of the target`, async () => {
        const url = fileUrl(dir, ...parts);
        // The same answer whether the target exists or not: a refusal cannot probe for files.
        const err = await rejection(policy.resolveLocalFile(url));
        expect(err).to.be.instanceOf(PermissionDeniedError);
        expect(err.message).to.contain(url.href);
        // Beyond the URL asked for, nothing about where the link leads.
        expect(err.message.replace(url.href, '')).to.not.match(/\/etc|secret|nowhere/);
      });
    }

    it('lets a missing file inside the directory through (opening it says it is missing; the caller may know that)', async () => {
      expect(await policy.resolveLocalFile(fileUrl(repo, 'bio', 'missing.img'))).to.equal(path.join(await realpath(repo), 'bio', 'missing.img'));
      const err = await rejection(new HttpImageFetcher(policy).fetch(fileUrl(repo, 'bio', 'missing.img'), path.join(dir, 'out-missing'), { offset: 0, onStart: () => undefined, onData: () => undefined }));
      expect(err).to.have.property('name', 'UnavailableError');
      expect(err.message).to.match(/cannot read .*ENOENT/);
    });

    it('refuses a descriptor opened outside the allowed directories (a link swapped in after the check)', async () => {
      const inside = await open(path.join(repo, 'bio', 'disk.img'), 'r');
      const outside = await open(path.join(dir, 'secret'), 'r');
      try {
        await policy.confirmOpened(fileUrl(repo, 'bio', 'disk.img'), inside.fd);
        expect(await rejection(policy.confirmOpened(fileUrl(repo, 'bio', 'disk.img'), outside.fd))).to.be.instanceOf(PermissionDeniedError);
      } finally {
        await inside.close();
        await outside.close();
      }
    });

    it('HttpImageFetcher copies an allowed file and refuses an escaping link without writing a byte', async () => {
      const fetcher = new HttpImageFetcher(policy);
      const out = path.join(dir, 'out');
      await mkdir(out, { recursive: true });
      const seen: Buffer[] = [];
      const opts = { offset: 0, onStart: () => undefined, onData: (c: Buffer) => void seen.push(c) };
      expect(await fetcher.fetch(fileUrl(repo, 'current.img'), path.join(out, 'ok'), opts)).to.include({ totalBytes: 'the image'.length, resumed: false });
      expect(Buffer.concat(seen).toString()).to.equal('the image');
      seen.length = 0;
      expect(await rejection(fetcher.fetch(fileUrl(repo, 'escape'), path.join(out, 'bad'), opts))).to.be.instanceOf(PermissionDeniedError);
      expect(await rejection(fetcher.fetch(new URL('file:///etc/shadow'), path.join(out, 'bad'), opts))).to.be.instanceOf(PermissionDeniedError);
      expect(seen).to.deep.equal([]);
      expect(await readdir(out)).to.deep.equal(['ok']);
    });
  });
});
