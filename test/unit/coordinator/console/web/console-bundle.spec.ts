import { expect } from 'chai';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildConsoleBundle } from '../../../../../scripts/build/console-bundle.js';

// XML namespace names Preact itself needs to create SVG/MathML elements: identifiers, never fetched.
const NAMESPACE_URIS = new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xhtml', 'http://www.w3.org/1998/Math/MathML', 'http://www.w3.org/1999/xlink']);
const URL_RE = /(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi;

describe('scripts/build/console-bundle', function () {
  this.timeout(120_000);
  let dir: string;
  let result: { files: string[]; bytes: number };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-console-bundle-'));
    result = await buildConsoleBundle(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes index.html, app.js (with its map) and app.css and reports their size', async () => {
    const expected = ['index.html', 'assets/app.js', 'assets/app.js.map', 'assets/app.css'].map((f) => path.join(dir, f));
    expect(result.files).to.have.members(expected);
    const sizes = await Promise.all(expected.map(async (f) => (await stat(f)).size));
    for (const s of sizes) expect(s).to.be.greaterThan(0);
    expect(result.bytes).to.equal(sizes.reduce((a, b) => a + b, 0));
  });

  it('serves a page that loads only its own assets', async () => {
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).to.include('href="/assets/app.css"');
    expect(html).to.include('src="/assets/app.js"');
    expect(html).to.include('<div id="app">');
    expect(html.match(URL_RE) ?? []).to.deep.equal([]);
  });

  it('bundles everything into app.js: no import or URL from outside, one EventSource', async () => {
    const js = await readFile(path.join(dir, 'assets/app.js'), 'utf8');
    expect(js.length).to.be.greaterThan(10_000);
    const urls = (js.match(URL_RE) ?? []).filter((u) => !NAMESPACE_URIS.has(u));
    expect(urls).to.deep.equal([]);
    // Minified module syntax: import{a}from"x", import"x", import("x"), export*from"x".
    expect(js).to.not.match(/\bimport\s*[{*"'(]|[}*]\s*from\s*["']/, 'no module left to load at run time');
    expect(js).to.not.include('process.env');
    expect(js.match(/new EventSource\(/g)).to.have.length(1);
    expect(js).to.include('/api/events');
    expect(js).to.match(/\/\/# sourceMappingURL=app\.js\.map\s*$/);
  });

  it('ships a stylesheet that pulls in no font or image from outside', async () => {
    const css = await readFile(path.join(dir, 'assets/app.css'), 'utf8');
    expect(css).to.include('system-ui');
    expect(css).to.not.match(/@import|@font-face|url\(/);
  });
});
