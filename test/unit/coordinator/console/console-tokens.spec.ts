import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ConsoleTokens, tokenHash } from '../../../../coordinator/console/console-tokens.js';
import { ConfigError } from '../../../../shared/config/load-yaml.js';
import { silentLogger, type Logger } from '../../../../shared/logger.js';
import { until } from '../../../helpers/wait.js';

const sha256 = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
const tokensYaml = (entries: Array<[name: string, token: string]>): string =>
  `tokens:\n${entries.map(([name, token]) => `  - name: ${name}\n    sha256: ${sha256(token)}\n`).join('')}`;

/** A pino logger whose lines the test can read. */
function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const POLL_MS = 50;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Replaces `file` at once (write aside, rename), as an admin's tooling should: no half-written read. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

describe('coordinator/console/console-tokens', () => {
  let dir: string;
  let file: string;
  let opened: ConsoleTokens[];
  let seq = 0;

  const open = async (logger: Logger = silentLogger()): Promise<ConsoleTokens> => {
    const t = await ConsoleTokens.open(file, logger, POLL_MS);
    opened.push(t);
    return t;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vonode-console-tokens-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => {
    opened = [];
    file = path.join(dir, `tokens-${++seq}.yaml`);
  });
  afterEach(async () => {
    await Promise.all(opened.map((t) => t.close()));
  });

  it('tokenHash is the SHA-256 the file stores (printf %s "$TOKEN" | sha256sum)', () => {
    expect(tokenHash('abc').toString('hex')).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('opens a valid file: holder() names the holder of each token and nobody for a wrong one', async () => {
    await writeFile(file, tokensYaml([['night-shift', 'tok-1'], ['ops@site.example', 'tok-2']]));
    const tokens = await open();
    expect(tokens.size).to.equal(2);
    expect(tokens.holder('tok-1')).to.equal('night-shift');
    expect(tokens.holder('tok-2')).to.equal('ops@site.example');
    expect(tokens.holder('tok-3')).to.equal(undefined);
    expect(tokens.holder('')).to.equal(undefined);
    expect(tokens.holder(sha256('tok-1')), 'the hash itself is not a token').to.equal(undefined);
  });

  it('gives the first name when two entries share a hash', async () => {
    await writeFile(file, tokensYaml([['first', 'same'], ['second', 'same']]));
    expect((await open()).holder('same')).to.equal('first');
  });

  it('opens a file without tokens (an empty list, or no list at all)', async () => {
    await writeFile(file, 'tokens: []\n');
    expect((await open()).size).to.equal(0);
    file = path.join(dir, `tokens-${++seq}.yaml`);
    await writeFile(file, '{}\n');
    expect((await open()).size).to.equal(0);
  });

  it('refuses a file that does not exist with a ConfigError naming it', async () => {
    const err = await ConsoleTokens.open(file, silentLogger(), POLL_MS).then(
      () => expect.fail('open should have thrown'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).file).to.equal(file);
    expect((err as ConfigError).message).to.contain(file).and.to.contain('cannot read the console tokens file');
  });

  describe('refuses an invalid file at open with a ConfigError naming the file and the field', () => {
    const good = sha256('t');
    // [what, yaml, problem]
    const cases: Array<[string, string, RegExp]> = [
      ['YAML that does not parse', 'tokens: [\n', /not valid YAML/],
      ['an uppercase sha256', `tokens:\n  - name: a\n    sha256: ${good.toUpperCase()}\n`, /tokens\.0\.sha256: must be 64 lowercase hex digits/],
      ['a sha256 of 63 digits', `tokens:\n  - name: a\n    sha256: ${good.slice(1)}\n`, /tokens\.0\.sha256: must be 64 lowercase hex digits/],
      ['a sha256 that is not hex', `tokens:\n  - name: a\n    sha256: ${'g'.repeat(64)}\n`, /tokens\.0\.sha256: must be 64 lowercase hex digits/],
      ['an entry without sha256', 'tokens:\n  - name: a\n', /tokens\.0\.sha256/],
      ['a name with a space', `tokens:\n  - name: night shift\n    sha256: ${good}\n`, /tokens\.0\.name: must be 1-64 characters/],
      ['a name of 65 characters', `tokens:\n  - name: ${'a'.repeat(65)}\n    sha256: ${good}\n`, /tokens\.0\.name: must be 1-64 characters/],
      ['a plain-text token field', `tokens:\n  - name: a\n    sha256: ${good}\n    token: t\n`, /tokens\.0/],
      ['an unknown top-level key', `tokens: []\nusers: []\n`, /\(top level\)|users/],
    ];
    for (const [what, yaml, problem] of cases) {
      it(what, async () => {
        await writeFile(file, yaml);
        const err = await ConsoleTokens.open(file, silentLogger(), POLL_MS).then(
          () => expect.fail('open should have thrown'),
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(ConfigError);
        expect((err as ConfigError).message).to.contain(file);
        expect((err as ConfigError).problems.join('\n')).to.match(problem);
      });
    }
  });

  it('picks up a rewritten file with a new token', async () => {
    await writeFile(file, tokensYaml([['a', 'old-token']]));
    const { logger, lines } = recordingLogger();
    const tokens = await open(logger);
    expect(tokens.holder('new-token')).to.equal(undefined);

    await replace(file, tokensYaml([['b', 'new-token']]));
    await until('the new token', async () => tokens.holder('new-token'), 2000, 10);
    expect(tokens.holder('new-token')).to.equal('b');
    expect(tokens.holder('old-token'), 'the removed token no longer lets in').to.equal(undefined);
    expect(tokens.size).to.equal(1);
    expect(lines.some((l) => l['msg'] === 'console tokens reloaded' && l['tokens'] === 1)).to.equal(true);
  });

  it('keeps the previous tokens when the file is rewritten with invalid YAML, logs it once, and recovers on a fix', async () => {
    await writeFile(file, tokensYaml([['a', 'kept-token']]));
    const { logger, lines } = recordingLogger();
    const tokens = await open(logger);
    const refusals = (): number => lines.filter((l) => l['msg'] === 'console tokens file refused; keeping the tokens read before').length;

    await replace(file, 'tokens:\n  - name: a\n    sha256: [unclosed\n');
    await until('the refusal logged', async () => (refusals() > 0 ? true : undefined), 2000, 10);
    expect(tokens.holder('kept-token')).to.equal('a');
    expect(tokens.size).to.equal(1);
    const refusal = lines.find((l) => l['msg'] === 'console tokens file refused; keeping the tokens read before')!;
    expect(refusal['level']).to.equal(50); // error
    expect(refusal['file']).to.equal(file);

    // The file watcher and the poll may both notice the change at once; after that, polls of the
    // same bad text must log nothing more.
    await sleep(2 * POLL_MS);
    const logged = refusals();
    expect(logged).to.be.at.most(2);
    await sleep(4 * POLL_MS);
    expect(refusals(), 'a bad version is logged once, not at every poll').to.equal(logged);

    await replace(file, tokensYaml([['a', 'kept-token'], ['c', 'fixed-token']]));
    await until('the fixed file', async () => tokens.holder('fixed-token'), 2000, 10);
    expect(tokens.holder('kept-token')).to.equal('a');
  });

  it('keeps the previous tokens when the rewrite has an uppercase sha256', async () => {
    await writeFile(file, tokensYaml([['a', 'kept-token']]));
    const { logger, lines } = recordingLogger();
    const tokens = await open(logger);
    await replace(file, `tokens:\n  - name: b\n    sha256: ${sha256('upper').toUpperCase()}\n`);
    await until('the refusal logged', async () => (lines.some((l) => l['level'] === 50) ? true : undefined), 2000, 10);
    expect(tokens.holder('kept-token')).to.equal('a');
    expect(tokens.holder('upper')).to.equal(undefined);
  });

  it('keeps the tokens while the file is missing', async () => {
    await writeFile(file, tokensYaml([['a', 'kept-token']]));
    const tokens = await open();
    await rm(file);
    await sleep(3 * POLL_MS);
    expect(tokens.holder('kept-token')).to.equal('a');
  });
});
