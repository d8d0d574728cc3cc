import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadStaticAssets } from '../../../../coordinator/console/static-assets.js';

const INDEX = '<!doctype html><title>vonode</title><script type="module" src="/assets/app.js"></script>\n';
const APP_JS = 'console.log("vonode console");\n';
const APP_CSS = 'body { margin: 0 }\n';

describe('coordinator/console/static-assets', () => {
  let root: string;
  let seq = 0;

  /** A console build dir holding `files` (path → content). */
  async function buildDir(files: Record<string, string | Buffer>): Promise<string> {
    const dir = path.join(root, `build-${++seq}`);
    await mkdir(path.join(dir, 'assets'), { recursive: true });
    for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
    return dir;
  }

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'vonode-static-assets-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  describe('loadStaticAssets', () => {
    it('serves index.html at / and the assets of known types under /assets/, nothing else', async () => {
      const dir = await buildDir({
        'index.html': INDEX,
        'assets/app.js': APP_JS,
        'assets/app.css': APP_CSS,
        'assets/app.js.map': '{"version":3}',
        'assets/logo.svg': '<svg/>',
        'assets/evil.exe': 'MZ\x90\x00',
        'assets/bad name.js': 'alert(1)',
        'assets/README': 'no extension',
        'other.js': 'outside assets/',
      });
      const assets = await loadStaticAssets(dir);
      expect([...assets.keys()].sort()).to.deep.equal(['/', '/assets/app.css', '/assets/app.js', '/assets/app.js.map', '/assets/logo.svg']);

      const types = Object.fromEntries([...assets].map(([url, a]) => [url, a.contentType]));
      expect(types).to.deep.equal({
        '/': 'text/html; charset=utf-8',
        '/assets/app.js': 'text/javascript; charset=utf-8',
        '/assets/app.css': 'text/css; charset=utf-8',
        '/assets/app.js.map': 'application/json; charset=utf-8',
        '/assets/logo.svg': 'image/svg+xml',
      });
      expect(assets.get('/')!.body.toString('utf8')).to.equal(INDEX);
      expect(assets.get('/assets/app.js')!.body.toString('utf8')).to.equal(APP_JS);
    });

    it('gives each asset a quoted etag that is the same for the same bytes and differs for different bytes', async () => {
      const one = await loadStaticAssets(await buildDir({ 'index.html': INDEX, 'assets/app.js': APP_JS, 'assets/copy.js': APP_JS, 'assets/app.css': APP_CSS }));
      const again = await loadStaticAssets(await buildDir({ 'index.html': INDEX, 'assets/app.js': APP_JS, 'assets/app.css': `${APP_CSS} ` }));

      const etag = (assets: typeof one, url: string): string => assets.get(url)!.etag;
      for (const url of ['/', '/assets/app.js', '/assets/app.css']) expect(etag(one, url), url).to.match(/^"[A-Za-z0-9_-]{27}"$/);
      expect(etag(one, '/assets/app.js'), 'same bytes, another name').to.equal(etag(one, '/assets/copy.js'));
      expect(etag(one, '/assets/app.js'), 'same bytes, another load').to.equal(etag(again, '/assets/app.js'));
      expect(etag(one, '/'), 'same bytes, another load').to.equal(etag(again, '/'));
      expect(etag(one, '/assets/app.css'), 'one byte more').to.not.equal(etag(again, '/assets/app.css'));
      expect(etag(one, '/'), 'different files').to.not.equal(etag(one, '/assets/app.js'));
    });

    it('skips a directory under assets/, even one named like a served file', async () => {
      const dir = await buildDir({ 'index.html': INDEX, 'assets/app.js': APP_JS });
      await mkdir(path.join(dir, 'assets', 'fonts'));
      await mkdir(path.join(dir, 'assets', 'old.js'));
      expect([...(await loadStaticAssets(dir)).keys()].sort()).to.deep.equal(['/', '/assets/app.js']);
    });

    it('serves index.html alone when there is no assets/ dir', async () => {
      const dir = path.join(root, `bare-${++seq}`);
      await mkdir(dir);
      await writeFile(path.join(dir, 'index.html'), INDEX);
      expect([...(await loadStaticAssets(dir)).keys()]).to.deep.equal(['/']);
    });

    it('throws, saying to run npm run build, when the dir has no index.html', async () => {
      const dir = await buildDir({ 'assets/app.js': APP_JS });
      const err = await loadStaticAssets(dir).then(
        () => expect.fail('loadStaticAssets should have thrown'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.contain(`${dir}/index.html is missing`).and.to.contain('run npm run build');
    });

    it('throws the same way for a dir that does not exist', async () => {
      const dir = path.join(root, 'never-built');
      const err = await loadStaticAssets(dir).then(
        () => expect.fail('loadStaticAssets should have thrown'),
        (e: unknown) => e,
      );
      expect((err as Error).message).to.match(/the web console is not built: .*never-built\/index\.html is missing \(run npm run build/);
    });
  });
});
