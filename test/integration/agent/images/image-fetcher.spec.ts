import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { HttpImageFetcher, type FetchOptions } from '../../../../agent/images/image-fetcher.js';
import { ImageSourcePolicy } from '../../../../agent/images/source-policy.js';
import { PermissionDeniedError, UnavailableError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { FlakyImageServer } from '../../../helpers/flaky-image-server.js';

// Redirects through a real HTTP server on 127.0.0.1: every target must pass
// images.sources before the agent sends it a request. The decoys exist on the
// servers, so following a bad redirect would succeed: a refusal is the policy's.
describe('HttpImageFetcher: redirects are checked against images.sources', function () {
  this.timeout(20_000);
  let repo: FlakyImageServer;
  let other: FlakyImageServer;
  let dir: string;
  const data = randomBytes(8 * 1024);

  before(async () => {
    repo = await new FlakyImageServer().start();
    other = await new FlakyImageServer().start();
    dir = await tempDir('vonode-redirect-');
    for (const name of ['appliances/a.raw', 'appliances/moved.raw', 'appliances-evil/a.raw', 'secret.raw']) repo.put(name, data);
    other.put('appliances/a.raw', data);
  });
  after(async () => {
    await repo.stop();
    await other.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const fetchVia = async (location: string): Promise<{ err?: unknown; dest: string; bytes: number }> => {
    const fetcher = new HttpImageFetcher(new ImageSourcePolicy([repo.url('appliances/')]));
    const dest = path.join(dir, `dest-${randomBytes(4).toString('hex')}`);
    let bytes = 0;
    const opts: FetchOptions = { offset: 0, onStart: () => undefined, onData: (c) => void (bytes += c.length) };
    repo.plan({ redirect: location });
    const err = await fetcher.fetch(new URL(repo.url('appliances/a.raw')), dest, opts).then(() => undefined, (e: unknown) => e);
    return { ...(err !== undefined ? { err } : {}), dest, bytes };
  };

  const port = (): string => new URL(repo.url('')).port;
  const cases: Array<[string, () => string, boolean]> = [
    ['a relative path under the prefix', () => '/appliances/moved.raw', true],
    ['an absolute URL under the prefix', () => repo.url('appliances/moved.raw'), true],
    ['the same server under another host name (localhost)', () => `http://localhost:${port()}/appliances/a.raw`, false],
    ['another origin (another port) with the same path', () => other.url('appliances/a.raw'), false],
    ['a sibling directory sharing the prefix name', () => '/appliances-evil/a.raw', false],
    ['".." out of the prefix', () => '/appliances/../secret.raw', false],
    ['"%2e%2e" out of the prefix', () => '/appliances/%2e%2e/secret.raw', false],
    ['an encoded slash', () => '/appliances/..%2fsecret.raw', false],
    ['a local file', () => 'file:///etc/shadow', false],
    ['a URL with credentials', () => `http://user:pw@127.0.0.1:${port()}/appliances/a.raw`, false],
    ['a URL with a query string', () => '/appliances/a.raw?signature=x', false],
    ['another scheme (https)', () => `https://127.0.0.1:${port()}/appliances/a.raw`, false],
  ];
  for (const [what, location, allowed] of cases) {
    it(`${allowed ? 'follows' : 'refuses'} a redirect to ${what}`, async () => {
      const before = { repo: repo.requests.length, other: other.requests.length };
      const r = await fetchVia(location());
      if (allowed) {
        expect(r.err).to.equal(undefined);
        expect((await readFile(r.dest)).equals(data)).to.equal(true);
        expect(repo.requests.length - before.repo).to.equal(2);
        return;
      }
      expect(r.err).to.be.instanceOf(PermissionDeniedError);
      expect((r.err as Error).message).to.contain(`image URL ${repo.url('appliances/a.raw')} redirects to`);
      expect((r.err as Error).message).to.contain('images.sources');
      // Only the redirecting request was made; no byte was written anywhere.
      expect(repo.requests.length - before.repo).to.equal(1);
      expect(other.requests.length - before.other).to.equal(0);
      expect(r.bytes).to.equal(0);
      expect(await stat(r.dest).then(() => 'exists', () => 'absent')).to.equal('absent');
    });
  }

  it('gives up after 5 redirects with UNAVAILABLE', async () => {
    repo.plan(...Array.from({ length: 5 }, () => ({ redirect: '/appliances/a.raw' })));
    const r = await fetchVia('/appliances/a.raw');
    expect(r.err).to.be.instanceOf(UnavailableError);
    expect((r.err as Error).message).to.contain('more than 5 redirects');
  });
});
