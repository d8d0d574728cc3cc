import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConsoleAuth, SESSION_COOKIE, cookieValue } from '../../../../coordinator/console/console-auth.js';
import { ConsoleTokens } from '../../../../coordinator/console/console-tokens.js';
import type { Clock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';

const TOKEN = 'night-shift-secret-token';
const HOUR_MS = 3_600_000;

/** A clock whose time moves only when the test says so (only nowMs matters to ConsoleAuth). */
class FakeClock implements Clock {
  constructor(public now = Date.UTC(2025, 0, 1)) {}
  monotonicMs(): number {
    return this.now;
  }
  nowMs(): number {
    return this.now;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

/** A plain (non-TLS) request carrying `headers`. */
function request(headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

const withSession = (id: string): IncomingMessage => request({ cookie: `theme=dark; ${SESSION_COOKIE}=${id}; lang=en` });

describe('coordinator/console/console-auth', () => {
  describe('cookieValue', () => {
    // [what, header, name, expected]
    const cases: Array<[string, string | undefined, string, string | undefined]> = [
      ['the only cookie', 'vonode_console=abc', 'vonode_console', 'abc'],
      ['one of several cookies', 'a=1; vonode_console=abc; b=2', 'vonode_console', 'abc'],
      ['the last of several cookies', 'a=1;b=2;vonode_console=abc', 'vonode_console', 'abc'],
      ['a cookie with spaces around name and value', '  a=1 ;   vonode_console =  abc  ; b=2', 'vonode_console', 'abc'],
      ['a value that itself holds "="', 'vonode_console=ab=c==', 'vonode_console', 'ab=c=='],
      ['an empty value', 'vonode_console=; a=1', 'vonode_console', ''],
      ['no header', undefined, 'vonode_console', undefined],
      ['an empty header', '', 'vonode_console', undefined],
      ['a header without that cookie', 'a=1; b=2', 'vonode_console', undefined],
      ['a name that is a prefix of another cookie', 'vonode_console_old=stale', 'vonode_console', undefined],
      ['a name that extends the one asked for', 'vonode=short', 'vonode_console', undefined],
      ['a prefix cookie before the right one', 'vonode_console_old=stale; vonode_console=fresh', 'vonode_console', 'fresh'],
      ['a part without "="', 'vonode_console; a=1', 'vonode_console', undefined],
      ['a part with an empty name', '=abc', '', undefined],
    ];
    for (const [what, header, name, expected] of cases) {
      it(`${what} → ${expected === undefined ? 'no value' : JSON.stringify(expected)}`, () => {
        expect(cookieValue(header, name)).to.equal(expected);
      });
    }

    it('takes the first of two cookies of the same name', () => {
      expect(cookieValue('vonode_console=first; vonode_console=second', 'vonode_console')).to.equal('first');
    });
  });

  describe('ConsoleAuth.check', () => {
    let dir: string;
    let tokens: ConsoleTokens;
    let clock: FakeClock;
    let auth: ConsoleAuth;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'vonode-console-auth-'));
      const file = path.join(dir, 'console-tokens.yaml');
      const sha256 = createHash('sha256').update(TOKEN).digest('hex');
      await writeFile(file, `tokens:\n  - name: a\n    sha256: ${sha256}\n`);
      tokens = await ConsoleTokens.open(file, silentLogger());
    });
    after(async () => {
      await tokens.close();
      await rm(dir, { recursive: true, force: true });
    });
    beforeEach(() => {
      clock = new FakeClock();
      auth = new ConsoleAuth({ tls: false, tokens, revocations: undefined, clock });
    });

    describe('bearer token', () => {
      it('lets in a token of the file, under its holder\'s name', () => {
        expect(auth.check(request({ authorization: `Bearer ${TOKEN}` }))).to.deep.equal({ ok: true, viewer: { name: 'a', via: 'token' } });
      });

      it('refuses a token that is not in the file, saying so', () => {
        const verdict = auth.check(request({ authorization: 'Bearer not-the-token' }));
        expect(verdict).to.deep.equal({ ok: false, reason: 'the bearer token is not one of the console tokens file' });
      });

      it('refuses a wrong token even when a valid session cookie comes with it', () => {
        const id = auth.login(TOKEN)!;
        const req = request({ authorization: 'Bearer wrong', cookie: `${SESSION_COOKIE}=${id}` });
        expect(auth.check(req).ok).to.equal(false);
      });

      it('ignores an Authorization header that is not a well-formed bearer token', () => {
        for (const authorization of [`Basic ${TOKEN}`, `Bearer  ${TOKEN}`, `bearer ${TOKEN}`, 'Bearer ', `Bearer ${'x'.repeat(513)}`, 'Bearer tab\tin']) {
          const verdict = auth.check(request({ authorization }));
          expect(verdict, authorization).to.deep.equal({
            ok: false,
            reason: 'show a site certificate of role admin, operator or reader, or log in with a console token',
          });
        }
      });
    });

    describe('sessions', () => {
      it('login with a wrong token opens no session', () => {
        expect(auth.login('not-the-token')).to.equal(undefined);
      });

      it('login → the session cookie lets in → logout → refused', () => {
        const id = auth.login(TOKEN);
        expect(id).to.be.a('string').that.matches(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
        expect(auth.check(withSession(id!))).to.deep.equal({ ok: true, viewer: { name: 'a', via: 'token' } });

        auth.logout(withSession(id!));
        const verdict = auth.check(withSession(id!));
        expect(verdict.ok).to.equal(false);
        expect(verdict).to.have.property('reason').that.matches(/log in with a console token/);
      });

      it('gives every login its own session id, and logging out one keeps the other', () => {
        const one = auth.login(TOKEN)!;
        const two = auth.login(TOKEN)!;
        expect(one).to.not.equal(two);
        auth.logout(withSession(one));
        expect(auth.check(withSession(one)).ok).to.equal(false);
        expect(auth.check(withSession(two)).ok).to.equal(true);
      });

      it('refuses a cookie of an unknown session, and logout without a cookie is harmless', () => {
        expect(auth.check(withSession('made-up-session-id')).ok).to.equal(false);
        expect(() => auth.logout(request())).to.not.throw();
      });

      it('does not share sessions between ConsoleAuth instances (a restart logs everyone out)', () => {
        const id = auth.login(TOKEN)!;
        const other = new ConsoleAuth({ tls: false, tokens, revocations: undefined, clock });
        expect(other.check(withSession(id)).ok).to.equal(false);
      });

      it('keeps a session 12 h and ends it at 12 h', () => {
        expect(auth.sessionSeconds).to.equal(12 * 3600);
        const id = auth.login(TOKEN)!;
        clock.now += 12 * HOUR_MS - 1;
        expect(auth.check(withSession(id)).ok).to.equal(true);
        clock.now += 1;
        expect(auth.check(withSession(id)).ok).to.equal(false);
        clock.now -= 1; // an expired session is forgotten, not merely refused at that instant
        expect(auth.check(withSession(id)).ok).to.equal(false);
      });

      it('drops the oldest session once 10,000 are open', () => {
        const first = auth.login(TOKEN)!;
        const second = auth.login(TOKEN)!;
        for (let i = 2; i < 10_000; i++) auth.login(TOKEN);
        expect(auth.check(withSession(first)).ok, 'the 10,000th session still keeps the first').to.equal(true);
        const last = auth.login(TOKEN)!; // the 10,001st
        expect(auth.check(withSession(first)).ok).to.equal(false);
        expect(auth.check(withSession(second)).ok).to.equal(true);
        expect(auth.check(withSession(last)).ok).to.equal(true);
      });
    });

    describe('without TLS', () => {
      it('lets anyone in when there is no tokens file (--insecure, development only)', () => {
        const open = new ConsoleAuth({ tls: false, tokens: undefined, revocations: undefined, clock });
        expect(open.check(request())).to.deep.equal({ ok: true, viewer: { name: 'anyone', via: 'insecure' } });
        expect(open.login(TOKEN), 'no tokens, no sessions').to.equal(undefined);
      });

      it('refuses a request without a token when there is a tokens file, saying what to show', () => {
        expect(auth.check(request())).to.deep.equal({
          ok: false,
          reason: 'show a site certificate of role admin, operator or reader, or log in with a console token',
        });
      });

      it('with TLS but no tokens file, refuses a request without a certificate, saying there are no tokens', () => {
        const tlsOnly = new ConsoleAuth({ tls: true, tokens: undefined, revocations: undefined, clock });
        expect(tlsOnly.check(request())).to.deep.equal({
          ok: false,
          reason: 'show a site certificate of role admin, operator or reader (this console has no tokens file)',
        });
      });
    });
  });
});
